// The add-on's image built from the repository's Dockerfile on a locally made base, then run: its entrypoint, as the
// image's user 1000, inside the image's own root filesystem, prints the version and renders the manifests; its
// config is what the manifests rely on; its /app holds the bundled CLI only (no sources, no node_modules); its OCI
// archive names the image the manifests use.
import { addonImageName, buildah, buildAddonImage, listTree } from "@tcr-assistant/testkit/addon-image"
import { imageEntrypoint } from "@tcr-assistant/testkit/image-app"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, expect, test } from "vitest"
import type { AddonImage } from "@tcr-assistant/testkit/addon-image"

let image: AddonImage
let container: string
let rootfs: string

beforeAll(async () => {
  image = await buildAddonImage()
  container = (await buildah(image.buildah, ["from", "--pull=never", image.reference])).trim()
  rootfs = (await buildah(image.buildah, ["mount", container])).trim()
})

afterAll(async () => {
  if (container !== undefined) await buildah(image.buildah, ["rm", container])
})

const config = async () =>
  JSON.parse(await buildah(image.buildah, ["inspect", "--type", "image", image.reference])) as {
    OCIv1: { config: { User: string; Entrypoint: Array<string>; Cmd: Array<string>; WorkingDir: string; Env: Array<string> } }
  }

/** Runs the image's entrypoint with `args` in its rootfs, as its configured user and working directory. */
const runEntrypoint = async (args: ReadonlyArray<string>) => {
  const { OCIv1: { config: imageConfig } } = await config()
  return buildah(image.buildah, [
    "run",
    "--isolation", "chroot",
    "--user", imageConfig.User,
    "--workingdir", imageConfig.WorkingDir,
    container, "--", ...imageConfig.Entrypoint, ...args
  ])
}

test("the image runs as user 1000:1000 the bundled CLI, from /app, in production mode", async () => {
  const { OCIv1: { config: imageConfig } } = await config()
  expect(imageConfig.User).toBe("1000:1000")
  expect(imageConfig.Entrypoint).toEqual([...imageEntrypoint])
  expect(imageConfig.Cmd).toEqual(["--help"])
  expect(imageConfig.WorkingDir).toBe("/app")
  expect(imageConfig.Env).toContain("NODE_ENV=production")
  const passwd = readFileSync(join(rootfs, "etc", "passwd"), "utf8")
  expect(passwd).toMatch(/^node:x:1000:1000:/m)
})

test("its entrypoint prints the version and renders the manifests as user 1000 inside the image", async () => {
  expect((await runEntrypoint(["--version"])).trim()).toContain("0.1.0")
  const rendered = await runEntrypoint(["render"])
  expect(rendered).toContain("kind: CustomResourceDefinition")
  expect(rendered).toContain("kind: DaemonSet")
  expect(rendered).toContain("image: tcr-assistant:0.1.0")
  const uid = await buildah(image.buildah, ["run", "--isolation", "chroot", "--user", "1000:1000", container, "--", "id", "-u"])
  expect(uid.trim()).toBe("1000")
})

test("the image's /app holds the bundle only: main.mjs and its chunks, no sources, no node_modules", () => {
  const app = listTree(join(rootfs, "app"))
  expect(app).toContain("main.mjs")
  expect(app.filter((path) => path !== "main.mjs" && path !== "chunks" && !/^chunks\/[^/]+\.mjs$/.test(path))).toEqual([])
  expect(app.filter((path) => path.startsWith("chunks/")).length).toBeGreaterThan(1)
})

test("its OCI archive names the manifests' image for ctr and skopeo", () => {
  const index = JSON.parse(readFileSync(join(image.ociLayout, "index.json"), "utf8")) as {
    manifests: Array<{ annotations: Record<string, string> }>
  }
  expect(index.manifests).toHaveLength(1)
  expect(index.manifests[0]!.annotations["io.containerd.image.name"]).toBe(addonImageName)
  expect(index.manifests[0]!.annotations["org.opencontainers.image.ref.name"]).toBe("0.1.0")
  expect(image.archiveBytes).toBeGreaterThan(0)
})
