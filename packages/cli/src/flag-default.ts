// How a flag's default reaches `--help`: effect's help prints descriptions but not defaults, so every flag that has
// one states it in its description, in one format, from the same value the parser falls back to.
import { Flag } from "effect/cli"

/** `(default: <shown>)`, the suffix `--help` shows; tests look for it. */
export const defaultSuffix = (shown: string): string => `(default: ${shown})`

/**
 * Describes the flag, falls back to `value` when it is absent, and shows that value in `--help`. `shown` replaces
 * the printed value where the raw one would not read well.
 */
export const withShownDefault =
  <const B>(description: string, value: B, shown: string = String(value)) => <A>(flag: Flag.Flag<A>): Flag.Flag<A | B> =>
    flag.pipe(Flag.withDescription(`${description} ${defaultSuffix(shown)}`), Flag.withDefault(value))

/**
 * For a flag whose absence the command resolves itself (from the environment, the kubeconfig, another flag): the
 * flag stays optional, and `--help` says in words what absence means.
 */
export const optionalWithShownDefault =
  (description: string, shown: string) => <A>(flag: Flag.Flag<A>) =>
    flag.pipe(Flag.withDescription(`${description} ${defaultSuffix(shown)}`), Flag.optional)

/** `(required)`, for the flags that have no default, so that every flag in `--help` says one or the other. */
export const requiredSuffix = "(required)"

/** Describes a flag the command cannot run without. */
export const withRequiredShown = (description: string) => <A>(flag: Flag.Flag<A>): Flag.Flag<A> =>
  flag.pipe(Flag.withDescription(`${description} ${requiredSuffix}`))
