import { assert, describe, it } from "@effect/vitest"
import { spawnTied } from "@tcr-assistant/testkit/process-lifeline"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, lstatSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import type { FileHandle } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { nodeFileOps, removeStaleTempFiles, replaceFileAtomically, type FileOps } from "../src/atomic-file.ts"
import { burstVersion, versionOf } from "./fixtures/burst-version.ts"
import { setTimeout as sleep } from "node:timers/promises"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hosts-atomic-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const tempFilesIn = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".tmp"))

const busyRename: FileOps = {
  ...nodeFileOps,
  rename: () => Promise.reject(Object.assign(new Error("rename: resource busy"), { code: "EBUSY" }))
}

describe("replaceFileAtomically", () => {
  it.effect("creates a missing file with mode 0644", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      process.umask(0o077)
      const outcome = yield* replaceFileAtomically(path, Buffer.from("127.0.0.1 localhost\n")).pipe(
        Effect.ensuring(Effect.sync(() => process.umask(0o022)))
      )
      assert.strictEqual(outcome, "created")
      assert.strictEqual(readFileSync(path, "utf8"), "127.0.0.1 localhost\n")
      assert.strictEqual(statSync(path).mode & 0o7777, 0o644)
    }))

  it.effect("does not touch a file that already holds the content", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, "same\n")
      const before = statSync(path)
      assert.strictEqual(yield* replaceFileAtomically(path, Buffer.from("same\n")), "unchanged")
      const after = statSync(path)
      assert.strictEqual(after.ino, before.ino)
      assert.strictEqual(after.mtimeMs, before.mtimeMs)
    }))

  it.effect("replaces the file by rename, keeping mode and ownership, leaving no temporary file", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, "old\n")
      chmodSync(path, 0o640)
      chownSync(path, 4321, 8765)
      const before = statSync(path)
      assert.strictEqual(yield* replaceFileAtomically(path, Buffer.from("new\n")), "replaced")
      const after = statSync(path)
      assert.strictEqual(readFileSync(path, "utf8"), "new\n")
      assert.notStrictEqual(after.ino, before.ino)
      assert.strictEqual(after.mode & 0o7777, 0o640)
      assert.deepStrictEqual([after.uid, after.gid], [4321, 8765])
      assert.deepStrictEqual(tempFilesIn(dir), [])
    }))

  it.effect("replaces the target of a symbolic link and keeps the link", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const target = join(dir, "hosts.real")
      const link = join(dir, "hosts")
      writeFileSync(target, "old\n")
      symlinkSync("hosts.real", link)
      assert.strictEqual(yield* replaceFileAtomically(link, Buffer.from("new\n")), "replaced")
      assert.isTrue(lstatSync(link).isSymbolicLink())
      assert.strictEqual(readFileSync(target, "utf8"), "new\n")
    }))

  it.effect("falls back to rewriting in place when rename fails with EBUSY (a bind-mounted file)", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, "a fairly long original line\n".repeat(10))
      chmodSync(path, 0o600)
      const inode = statSync(path).ino
      assert.strictEqual(yield* replaceFileAtomically(path, Buffer.from("short\n"), busyRename), "rewritten-in-place")
      assert.strictEqual(readFileSync(path, "utf8"), "short\n")
      assert.strictEqual(yield* replaceFileAtomically(path, Buffer.from("longer again\n".repeat(20)), busyRename), "rewritten-in-place")
      assert.strictEqual(readFileSync(path, "utf8"), "longer again\n".repeat(20))
      assert.strictEqual(statSync(path).ino, inode)
      assert.strictEqual(statSync(path).mode & 0o7777, 0o600)
      assert.deepStrictEqual(tempFilesIn(dir), [])
    }))

  it.effect("rewrites a file that really is bind-mounted (mount namespace)", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const source = join(dir, "hosts.source")
      const mountPoint = join(dir, "hosts")
      writeFileSync(source, "old\n")
      writeFileSync(mountPoint, "hidden by the mount\n")
      const script = `mount --bind "$1" "$2" && "$3" "$4" "$2" "new content" && printf ' ' && cat "$2"`
      const { child, exited } = spawnTied(
        "unshare",
        ["--mount", "--propagation", "private", "sh", "-c", script, "sh", source, mountPoint, process.execPath, fixture("write-once.ts")],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
      let output = ""
      child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
      let errors = ""
      child.stderr?.on("data", (chunk: Buffer) => (errors += chunk.toString()))
      const { code } = yield* Effect.promise(() => exited)
      assert.strictEqual(code, 0, errors)
      assert.strictEqual(output, "rewritten-in-place new content")
      assert.strictEqual(readFileSync(source, "utf8"), "new content")
      assert.strictEqual(readFileSync(mountPoint, "utf8"), "hidden by the mount\n")
    }))

  it.effect("fails with a typed error and leaves the file and no temporary file when rename fails", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, "old\n")
      const denied: FileOps = {
        ...nodeFileOps,
        rename: () => Promise.reject(Object.assign(new Error("rename: permission denied"), { code: "EACCES" }))
      }
      const exit = yield* Effect.exit(replaceFileAtomically(path, Buffer.from("new\n"), denied))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(replaceFileAtomically(path, Buffer.from("new\n"), denied))
      assert.strictEqual(error._tag, "FileError")
      assert.strictEqual(error.code, "EACCES")
      assert.strictEqual(error.operation, "rename")
      assert.isFalse(error.retryable)
      assert.strictEqual(readFileSync(path, "utf8"), "old\n")
      assert.deepStrictEqual(tempFilesIn(dir), [])
    }))
})

describe("removeStaleTempFiles", () => {
  it.effect("removes only the temporary files of the given target", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, "x\n")
      writeFileSync(join(dir, ".hosts.tcr-assistant-1-aa.tmp"), "")
      writeFileSync(join(dir, ".hosts.tcr-assistant-2-bb.tmp"), "")
      writeFileSync(join(dir, ".other.tcr-assistant-3-cc.tmp"), "")
      writeFileSync(join(dir, "hosts.tmp"), "")
      assert.strictEqual(yield* removeStaleTempFiles(path), 2)
      assert.deepStrictEqual(readdirSync(dir).sort(), [".other.tcr-assistant-3-cc.tmp", "hosts", "hosts.tmp"])
    }))
})

describe("crash safety", () => {
  it.effect("a writer killed with SIGKILL in a burst of writes leaves the old or the new file, never a torn one", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, burstVersion(0))
      let leftovers = 0
      for (let round = 0; round < 6; round++) {
        const before = versionOf(readFileSync(path)) ?? -1
        const { child, exited } = spawnTied(process.execPath, [fixture("write-burst.ts"), path, String(before + 1)], {
          stdio: ["ignore", "pipe", "inherit"]
        })
        let announced = before
        const killAfter = before + 2 + round * 3
        yield* Effect.promise(async () => {
          let partial = ""
          for await (const chunk of child.stdout!) {
            const lines = (partial + String(chunk)).split("\n")
            partial = lines.pop() ?? ""
            for (const line of lines) announced = Number(line)
            // Kill at a moment unrelated to the write cycle, so that some kills land inside a write.
            if (announced >= killAfter) {
              await sleep(round * 2)
              child.kill("SIGKILL")
              break
            }
          }
        })
        const { signal } = yield* Effect.promise(() => exited)
        assert.strictEqual(signal, "SIGKILL")
        const content = readFileSync(path)
        const version = versionOf(content)
        assert.isDefined(version, "the file lost its header")
        // Every announced version was complete before it was announced; later ones may have completed too.
        assert.isTrue(version! >= announced, `version ${version} is older than the announced ${announced}`)
        assert.isTrue(content.equals(burstVersion(version!)), `version ${version} is torn`)
        leftovers += tempFilesIn(dir).length
        yield* removeStaleTempFiles(path)
        assert.deepStrictEqual(tempFilesIn(dir), [])
      }
      // Not asserted (it depends on timing), but shows whether kills landed inside writes.
      console.info(`crash test: ${leftovers} of 6 kills left a temporary file (landed inside a write)`)
    }))
})

/**
 * File operations that stop for good at operation number `crashAt` (counting handle methods too): from then on
 * nothing more reaches the disk, exactly as if the process had been killed there.
 */
const crashingOps = (base: FileOps, crashAt: number, onCrash: () => void): FileOps => {
  let step = 0
  const gate = <A>(run: () => Promise<A>): Promise<A> => {
    const current = step++
    if (current < crashAt) return run()
    if (current === crashAt) onCrash()
    return new Promise<A>(() => {})
  }
  const wrapHandle = (handle: FileHandle): FileHandle =>
    new Proxy(handle, {
      get: (target, key) => {
        const value = Reflect.get(target, key, target)
        return typeof value === "function"
          ? (...args: Array<unknown>) => gate(() => value.apply(target, args))
          : value
      }
    })
  return {
    readFile: (path) => gate(() => base.readFile(path)),
    realpath: (path) => gate(() => base.realpath(path)),
    stat: (path) => gate(() => base.stat(path)),
    open: (path, flags, mode) => gate(() => base.open(path, flags, mode)).then(wrapHandle),
    rename: (from, to) => gate(() => base.rename(from, to)),
    unlink: (path) => gate(() => base.unlink(path)),
    readdir: (path) => gate(() => base.readdir(path))
  }
}

/** What the file holds after a crash at each operation of one write, until a write runs to its end. */
const contentAtEveryCrashPoint = (base: FileOps, oldContent: string, newContent: string) =>
  Effect.gen(function*() {
    const dir = yield* scratch
    const path = join(dir, "hosts")
    const seen: Array<string> = []
    for (let crashAt = 0; ; crashAt++) {
      writeFileSync(path, oldContent)
      const crashed = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkDetach(
        replaceFileAtomically(path, Buffer.from(newContent), crashingOps(base, crashAt, () => Deferred.doneUnsafe(crashed, Exit.void)))
      )
      const finished = yield* Effect.raceFirst(Deferred.await(crashed).pipe(Effect.as(false)), Fiber.join(fiber).pipe(Effect.as(true)))
      seen.push(readFileSync(path, "utf8"))
      if (finished) return seen
    }
  })

describe("crash points", () => {
  const oldContent = "127.0.0.1 localhost\n# a long original file\n".repeat(50)
  const newContent = "127.0.0.1 localhost\n10.0.0.1 reg.example.com\n"

  it.effect("a crash at any operation of an atomic write leaves the old or the new content", () =>
    Effect.gen(function*() {
      const seen = yield* contentAtEveryCrashPoint(nodeFileOps, oldContent, newContent)
      assert.isAbove(seen.length, 10)
      for (const [crashAt, content] of seen.entries()) {
        assert.isTrue(content === oldContent || content === newContent, `torn after a crash at operation ${crashAt}`)
      }
      assert.strictEqual(seen[seen.length - 1], newContent)
    }))

  it.effect("the in-place fallback for bind-mounted files is not atomic (and this check sees it)", () =>
    Effect.gen(function*() {
      const seen = yield* contentAtEveryCrashPoint(busyRename, oldContent, newContent)
      assert.isTrue(seen.some((content) => content !== oldContent && content !== newContent))
    }))
})
