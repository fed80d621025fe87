import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { mergeManagedBlock } from "../src/hosts-block.ts"
import { HostsFile } from "../src/hosts-file.ts"

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "hosts-file-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const config = { entries: [{ address: "10.0.0.1", names: ["reg.example.com"] }] }

describe("HostsFile", () => {
  layer(HostsFile.layer)((it) => {
    it.effect("keeps every byte outside the block, even ones that are not UTF-8", () =>
      Effect.gen(function*() {
        const hosts = yield* HostsFile
        const dir = yield* scratch
        const path = join(dir, "hosts")
        const original = Buffer.concat([
          Buffer.from("127.0.0.1 localhost # caf\u00e9 in UTF-8: "),
          Buffer.from("caf\u00e9", "utf8"),
          Buffer.from([0x0a, 0x23, 0x20, 0xff, 0xfe, 0x80, 0x0d, 0x0a])
        ])
        writeFileSync(path, original)
        const merged = mergeManagedBlock(yield* hosts.read(path), config)
        assert.strictEqual(yield* hosts.write(path, merged.content), "replaced")
        assert.isTrue(readFileSync(path).subarray(0, original.length).equals(original))
        const removed = mergeManagedBlock(yield* hosts.read(path), { entries: [] })
        yield* hosts.write(path, removed.content)
        assert.isTrue(readFileSync(path).equals(original))
      }))

    it.effect("reads a missing file as empty", () =>
      Effect.gen(function*() {
        const hosts = yield* HostsFile
        const dir = yield* scratch
        assert.strictEqual(yield* hosts.read(join(dir, "missing")), "")
      }))
  })

  it.effect("can be built with a rename that fails, to exercise the bind-mount fallback", () =>
    Effect.gen(function*() {
      const hosts = yield* HostsFile
      const dir = yield* scratch
      const path = join(dir, "hosts")
      writeFileSync(path, "old\n")
      assert.strictEqual(yield* hosts.write(path, "new\n"), "rewritten-in-place")
      assert.strictEqual(readFileSync(path, "utf8"), "new\n")
    }).pipe(
      Effect.provide(
        HostsFile.layerWith({ rename: () => Promise.reject(Object.assign(new Error("busy"), { code: "EBUSY" })) })
      )
    ))
})
