// The node's hosts file as a service: reading its text and atomically writing a new one.
import { Context, Effect, Layer } from "effect"
import {
  FileError,
  nodeFileOps,
  readFileIfExists,
  removeStaleTempFiles,
  replaceFileAtomically,
  type FileOps,
  type WriteOutcome
} from "./atomic-file.ts"

/**
 * Hosts files are read and written as latin1, which maps each byte to one character and back. Whatever encoding
 * the user's comments are in, and even invalid UTF-8, survives a rewrite byte for byte; the managed block itself
 * is ASCII.
 */
const encoding = "latin1"

export class HostsFile extends Context.Service<HostsFile, {
  /** The file's text; an empty string when it does not exist. */
  readonly read: (path: string) => Effect.Effect<string, FileError>
  readonly write: (path: string, content: string) => Effect.Effect<WriteOutcome, FileError>
  /** Removes temporary files a killed writer left next to `path`; returns how many. */
  readonly removeStaleTempFiles: (path: string) => Effect.Effect<number, FileError>
}>()("@tcr-assistant/hosts-updater/HostsFile") {
  static readonly make = (ops: FileOps): HostsFile["Service"] => {
    const read = Effect.fn("HostsFile.read")(function*(path: string) {
      const bytes = yield* readFileIfExists(path, ops)
      return bytes === undefined ? "" : Buffer.from(bytes).toString(encoding)
    })
    const write = Effect.fn("HostsFile.write")(function*(path: string, content: string) {
      return yield* replaceFileAtomically(path, Buffer.from(content, encoding), ops)
    })
    const removeStale = Effect.fn("HostsFile.removeStaleTempFiles")(function*(path: string) {
      return yield* removeStaleTempFiles(path, ops)
    })
    return HostsFile.of({ read, write, removeStaleTempFiles: removeStale })
  }

  static readonly layer = Layer.succeed(HostsFile, HostsFile.make(nodeFileOps))

  /** The real file system with some operations replaced, to provoke failures such as EBUSY. */
  static readonly layerWith = (ops: Partial<FileOps>) => Layer.succeed(HostsFile, HostsFile.make({ ...nodeFileOps, ...ops }))
}
