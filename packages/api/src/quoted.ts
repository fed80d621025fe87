// How a message quotes a value a user wrote: JSON-quoted and cut to a few dozen characters, so that a denial or a
// status message never echoes a huge value back (a 1 MiB field gives a one-line message, not a 1 MiB one).

export const maxQuotedLength = 64

/** `"value"`, or `"first 64 characters…" (1048576 characters)` when longer. */
export const quoted = (value: string): string =>
  value.length <= maxQuotedLength
    ? JSON.stringify(value)
    : `${JSON.stringify(value.slice(0, maxQuotedLength))}… (${value.length} characters)`

/** A message cut to `max` characters, saying how much was left out. */
export const truncatedMessage = (message: string, max: number): string =>
  message.length <= max ? message : `${message.slice(0, max)}… (${message.length - max} more characters)`
