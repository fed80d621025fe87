// Reading a file and replacing its whole content so that a crash at any moment leaves either the old or the new one.
import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Effect, Schema } from "effect"

/** The file operations the writer needs; tests swap single ones (a rename that fails with EBUSY). */
export interface FileOps {
  readonly readFile: (path: string) => Promise<Uint8Array>
  readonly realpath: (path: string) => Promise<string>
  readonly stat: (path: string) => Promise<{ readonly mode: number; readonly uid: number; readonly gid: number }>
  readonly open: (path: string, flags: string, mode?: number) => Promise<fs.FileHandle>
  readonly rename: (from: string, to: string) => Promise<void>
  readonly unlink: (path: string) => Promise<void>
  readonly readdir: (path: string) => Promise<ReadonlyArray<string>>
}

export const nodeFileOps: FileOps = {
  readFile: (path) => fs.readFile(path),
  realpath: (path) => fs.realpath(path),
  stat: (path) => fs.stat(path),
  open: (path, flags, mode) => fs.open(path, flags, mode),
  rename: (from, to) => fs.rename(from, to),
  unlink: (path) => fs.unlink(path),
  readdir: (path) => fs.readdir(path)
}

const permanentCodes = new Set(["EACCES", "EPERM", "EROFS", "EISDIR", "ENOTDIR", "ELOOP", "ENAMETOOLONG"])

export class FileError extends Schema.TaggedError<FileError>()("FileError", {
  path: Schema.String,
  operation: Schema.String,
  code: Schema.optional(Schema.String),
  message: Schema.String
}) {
  /** Permission and file-type problems need a person; anything else (ENOSPC, EIO, ...) may pass. */
  get retryable(): boolean {
    return this.code === undefined || !permanentCodes.has(this.code)
  }
}

/**
 * `unchanged`: the file already held the content, nothing was written. `created`: the file did not exist.
 * `replaced`: written by rename. `rewritten-in-place`: the file is a mount point, see `rewriteInPlace`.
 */
export type WriteOutcome = "unchanged" | "created" | "replaced" | "rewritten-in-place"

const errorCode = (error: unknown): string | undefined => {
  const code = (error as { readonly code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

const attempt = <A>(operation: string, path: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new FileError({
        path,
        operation,
        code: errorCode(error),
        message: `${operation} ${path}: ${error instanceof Error ? error.message : String(error)}`
      })
  })

const hasCode = (...codes: ReadonlyArray<string>) => (error: FileError): boolean =>
  error.code !== undefined && codes.includes(error.code)

/** The bytes of `path`, or undefined when it does not exist. */
export const readFileIfExists = (path: string, ops: FileOps = nodeFileOps) =>
  attempt("read", path, () => ops.readFile(path)).pipe(
    Effect.catchIf(hasCode("ENOENT"), () => Effect.succeed(undefined))
  )

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

/** Temporary files are named after their target so that `removeStaleTempFiles` can find the ones a crash left. */
const tempPrefix = (target: string): string => `.${basename(target)}.tcr-assistant-`
const tempSuffix = ".tmp"

const withHandle = <A>(
  path: string,
  flags: string,
  mode: number | undefined,
  ops: FileOps,
  use: (handle: fs.FileHandle) => Effect.Effect<A, FileError>
) =>
  Effect.acquireUseRelease(
    attempt("open", path, () => ops.open(path, flags, mode)),
    use,
    (handle) => Effect.promise(() => handle.close().catch(() => undefined))
  )

const syncDirectory = (directory: string, ops: FileOps) =>
  withHandle(directory, "r", undefined, ops, (handle) => attempt("fsync", directory, () => handle.sync())).pipe(
    // Some filesystems cannot fsync a directory; the rename has happened, only its durability is less certain.
    Effect.catchIf(hasCode("EINVAL", "ENOTSUP", "EOPNOTSUPP"), () => Effect.void)
  )

/**
 * The fallback for a target that is a mount point. A file bind-mounted on its own (as container runtimes do with
 * /etc/hosts) cannot be renamed over: rename fails with EBUSY. All that is left is to write the full content into
 * the file itself, truncate it to the new length and fsync it. That is not atomic: a crash in the middle can
 * leave a mix of old and new bytes, which is why it is only used when rename is impossible. Mounting the
 * directory that holds the file (the DaemonSet mounts the node's /etc) avoids this path.
 */
const rewriteInPlace = (path: string, content: Uint8Array, ops: FileOps) =>
  withHandle(path, "r+", undefined, ops, (handle) =>
    Effect.gen(function*() {
      yield* attempt("write", path, () => handle.writeFile(content))
      yield* attempt("truncate", path, () => handle.truncate(content.length))
      yield* attempt("fsync", path, () => handle.sync())
    }))

/**
 * Makes `path` hold exactly `content`, writing only when it differs: a temporary file in the same directory gets
 * the content and the target's mode and ownership, is fsynced and renamed over the target, then the directory is
 * fsynced so that the rename itself survives a power loss. A symbolic link is followed and its target replaced, so
 * the link stays a link. A missing file is created with mode 0644.
 */
export const replaceFileAtomically = Effect.fn("replaceFileAtomically")(function*(
  path: string,
  content: Uint8Array,
  ops: FileOps = nodeFileOps
): Effect.fn.Return<WriteOutcome, FileError> {
  const target = yield* attempt("realpath", path, () => ops.realpath(path)).pipe(
    Effect.catchIf(hasCode("ENOENT"), () => Effect.succeed(path))
  )
  const current = yield* readFileIfExists(target, ops)
  if (current !== undefined && sameBytes(current, content)) return "unchanged"
  const owner = current === undefined ? undefined : yield* attempt("stat", target, () => ops.stat(target))
  const mode = owner === undefined ? 0o644 : owner.mode & 0o7777

  const directory = dirname(target)
  const temp = join(directory, `${tempPrefix(target)}${process.pid}-${randomBytes(6).toString("hex")}${tempSuffix}`)
  const removeTemp = Effect.promise(() => ops.unlink(temp).catch(() => undefined))

  yield* withHandle(temp, "wx", mode, ops, (handle) =>
    Effect.gen(function*() {
      yield* attempt("write", temp, () => handle.writeFile(content))
      // The open mode is filtered by the umask, and a new file belongs to whoever runs the agent.
      yield* attempt("chmod", temp, () => handle.chmod(mode))
      if (owner !== undefined) yield* attempt("chown", temp, () => handle.chown(owner.uid, owner.gid))
      yield* attempt("fsync", temp, () => handle.sync())
    })).pipe(Effect.onError(() => removeTemp))

  const renamed = yield* attempt("rename", target, () => ops.rename(temp, target)).pipe(
    Effect.as(true),
    Effect.catchIf(hasCode("EBUSY"), () => Effect.succeed(false)),
    Effect.onError(() => removeTemp)
  )
  if (!renamed) {
    yield* removeTemp
    yield* rewriteInPlace(target, content, ops)
    return "rewritten-in-place"
  }
  yield* syncDirectory(directory, ops)
  return current === undefined ? "created" : "replaced"
})

/**
 * Removes the temporary files that writes to `path` left behind when their process was killed before renaming.
 * Only for startup: a write in flight from another process would lose its temporary file.
 */
export const removeStaleTempFiles = Effect.fn("removeStaleTempFiles")(function*(
  path: string,
  ops: FileOps = nodeFileOps
): Effect.fn.Return<number, FileError> {
  const target = yield* attempt("realpath", path, () => ops.realpath(path)).pipe(
    Effect.catchIf(hasCode("ENOENT"), () => Effect.succeed(path))
  )
  const directory = dirname(target)
  const names = yield* attempt("readdir", directory, () => ops.readdir(directory))
  const stale = names.filter((name) => name.startsWith(tempPrefix(target)) && name.endsWith(tempSuffix))
  for (const name of stale) {
    yield* attempt("unlink", join(directory, name), () => ops.unlink(join(directory, name))).pipe(
      Effect.catchIf(hasCode("ENOENT"), () => Effect.void)
    )
  }
  return stale.length
})
