// Owns the add-on's container image built from the project's real Dockerfile on a machine with no Docker engine and
// no container registry: the Dockerfile's base `node:24-bookworm-slim` made locally (a Debian bookworm rootfs from
// Debian packages, the Node 24 binary the repository brings through npm, npm itself, the `node` user 1000:1000), then
// `buildah bud` of the Dockerfile, then an OCI archive that `ctr images import` and `skopeo copy oci-archive:` take.
// Everything lives under the kit's cache directory; no file under /etc/containers or /var/lib/containers is used.
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { repositoryRoot } from "./image-app.ts"
import { acquireBuildLock, kitCacheDir } from "./control-plane-binaries.ts"
import { ensureDebianPackages } from "./debian-packages.ts"

/** The Dockerfile's FROM name, fully qualified as buildah stores it. */
export const baseImageName = "docker.io/library/node:24-bookworm-slim"
/** The name the manifests' Deployment and DaemonSet use (`tcr-assistant:0.1.0`), as the kubelet normalizes it. */
export const addonImageName = "docker.io/library/tcr-assistant:0.1.0"
/** npm in the base image, fetched from the npm registry with `npm pack`, like the official image bundles one. */
export const baseNpmVersion = "11.19.1"
const debianSuite = "bookworm"
const debianMirror = "http://deb.debian.org/debian"

export interface AddonImage {
  /** A tar of the OCI layout: `ctr -n k8s.io images import ARCHIVE` or `skopeo copy oci-archive:ARCHIVE ...`. */
  readonly ociArchive: string
  /** The same OCI layout as a directory: `skopeo copy oci:DIR:TAG ...`. */
  readonly ociLayout: string
  /** Its tag in the layout (`org.opencontainers.image.ref.name`). */
  readonly ociTag: string
  /** The full image name (`io.containerd.image.name`), what the manifests' `tcr-assistant:0.1.0` resolves to. */
  readonly reference: string
  /** The image in the kit's buildah storage, and the flags that select that storage. */
  readonly buildah: BuildahStorage
  readonly imageId: string
  /** The hash of the Dockerfile's inputs that keys the cache. */
  readonly inputsKey: string
  /** What this call did: built the base, built the image, or reused both. */
  readonly built: { readonly base: boolean; readonly image: boolean }
  readonly seconds: { readonly base: number; readonly image: number }
  /** Size of the OCI archive (uncompressed layers). */
  readonly archiveBytes: number
}

export interface BuildahStorage {
  /** Global flags for every `buildah` call on the kit's storage. */
  readonly flags: ReadonlyArray<string>
  /** Environment for buildah: the kit's registries.conf and policy.json. */
  readonly env: NodeJS.ProcessEnv
}

export class AddonImageError extends Error {
  override readonly name = "AddonImageError"
}

export const imageCacheDir = (env: NodeJS.ProcessEnv = process.env): string =>
  join(kitCacheDir(env), "image")

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}
): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repositoryRoot,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => ((stdout += chunk), (output += chunk)))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", (error) => reject(new AddonImageError(`${command}: ${error.message}`)))
    child.on("close", (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new AddonImageError(`${[command, ...args].join(" ")} exited with ${code}:\n${output.slice(-4000)}`))
    )
  })

/** buildah and mmdebstrap from Debian, installed when absent; one line saying why when that is impossible. */
const ensureTools = (): Promise<void> =>
  ensureDebianPackages("the add-on image", [{ file: "buildah", pkg: "buildah" }, { file: "mmdebstrap", pkg: "mmdebstrap" }])

/** The kit's own containers configuration and storage, so that the machine's /etc/containers stays untouched. */
export const buildahStorage = (cacheDir: string = imageCacheDir()): BuildahStorage => {
  const config = join(cacheDir, "containers")
  mkdirSync(config, { recursive: true })
  // Short names resolve to docker.io as the Dockerfile's `FROM node:...` means; nothing is ever pulled (--pull=never).
  writeFileSync(join(config, "registries.conf"), 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n')
  writeFileSync(
    join(config, "storage.conf"),
    `[storage]\ndriver = "vfs"\ngraphroot = "${join(cacheDir, "storage")}"\nrunroot = "${join(cacheDir, "run")}"\n`
  )
  writeFileSync(join(config, "policy.json"), JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }) + "\n")
  return {
    flags: ["--root", join(cacheDir, "storage"), "--runroot", join(cacheDir, "run"), "--storage-driver", "vfs"],
    env: {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: join(config, "registries.conf"),
      CONTAINERS_POLICY_JSON: join(config, "policy.json"),
      CONTAINERS_STORAGE_CONF: join(config, "storage.conf"),
      BUILDAH_ISOLATION: "chroot"
    }
  }
}

export const buildah = (storage: BuildahStorage, args: ReadonlyArray<string>, cwd?: string): Promise<string> =>
  run("buildah", [...storage.flags, ...args], { env: storage.env, ...(cwd === undefined ? {} : { cwd }) })

const imageId = async (storage: BuildahStorage, name: string): Promise<string | undefined> => {
  try {
    return (await buildah(storage, ["inspect", "--type", "image", "--format", "{{.FromImageID}}", name])).trim()
  } catch {
    return undefined
  }
}

const sha256 = (parts: ReadonlyArray<string | Buffer>): string => {
  const hash = createHash("sha256")
  for (const part of parts) hash.update(part).update("\0")
  return hash.digest("hex")
}

const nodeBinary = join(repositoryRoot, "node_modules", "node", "bin", "node")
/** Bump when buildBase changes what it assembles. */
const baseRecipe = "minbase+node+npm+user-1000/1"

/** The base depends on the Node binary, the npm version, the Debian suite, and the recipe below. */
const baseKey = (): string =>
  sha256([readFileSync(nodeBinary), baseNpmVersion, debianSuite, debianMirror, baseRecipe]).slice(0, 16)

/** Every file `buildah bud` can see through .dockerignore, plus the base's key: the image's inputs. */
const dockerfileInputs = (): ReadonlyArray<string> => {
  const ignored = (path: string): boolean =>
    /(^|\/)(node_modules|dist|test|bench)(\/|$)/.test(path) ||
    path.startsWith("packages/testkit/src") ||
    path.startsWith("packages/testkit/controlplane") ||
    path.endsWith(".tsbuildinfo")
  const files: Array<string> = ["Dockerfile", ".dockerignore", "package.json", "package-lock.json"]
  for (const name of readdirSync(repositoryRoot)) if (/^tsconfig.*\.json$/.test(name)) files.push(name)
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(repositoryRoot, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`
      if (ignored(path)) continue
      if (entry.isDirectory()) walk(path)
      else if (entry.isFile()) files.push(path)
    }
  }
  walk("packages")
  return files.sort()
}

const imageKey = (base: string): string =>
  sha256([base, ...dockerfileInputs().flatMap((path) => [path, readFileSync(join(repositoryRoot, path))])]).slice(0, 16)

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9

/**
 * The Dockerfile's base, as the official `node:24-bookworm-slim` is laid out: a minbase Debian bookworm, node in
 * /usr/local/bin, npm in /usr/local/lib/node_modules/npm, and the `node` user and group 1000.
 */
const buildBase = async (storage: BuildahStorage, cacheDir: string, key: string): Promise<void> => {
  const work = join(cacheDir, "base", key)
  rmSync(work, { recursive: true, force: true })
  mkdirSync(join(work, "npm"), { recursive: true })
  await run("npm", ["pack", `npm@${baseNpmVersion}`, "--pack-destination", join(work, "npm"), "--silent"])
  const npmTarball = join(work, "npm", `npm-${baseNpmVersion}.tgz`)
  await run("tar", ["-xzf", npmTarball, "-C", join(work, "npm")])
  renameSync(join(work, "npm", "package"), join(work, "npm", "npm"))
  const hooks = [
    'mkdir -p "$1/usr/local/lib/node_modules"',
    `copy-in ${nodeBinary} /usr/local/bin`,
    `copy-in ${join(work, "npm", "npm")} /usr/local/lib/node_modules`,
    'chroot "$1" ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm',
    'chroot "$1" ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx',
    'chroot "$1" groupadd --gid 1000 node',
    'chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  ]
  await run("mmdebstrap", [
    "--variant=minbase",
    "--mode=root",
    "--quiet",
    ...hooks.flatMap((hook) => ["--customize-hook", hook]),
    debianSuite,
    join(work, "rootfs.tar"),
    debianMirror
  ])
  writeFileSync(
    join(work, "Containerfile"),
    [
      "FROM scratch",
      "ADD rootfs.tar /",
      `ENV NODE_VERSION=${process.versions.node}`,
      "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      'CMD ["node"]',
      ""
    ].join("\n")
  )
  await buildah(storage, ["bud", "--isolation", "chroot", "--layers=false", "-f", "Containerfile", "-t", baseImageName, "-t", `localhost/tcr-assistant-base:${key}`, "."], work)
  // The rootfs is in buildah's storage now; keep only what names the inputs.
  rmSync(work, { recursive: true, force: true })
}

/**
 * When this machine's npm trusts an extra CA (e.g. a TLS-inspecting egress proxy), the build's `npm ci` must too:
 * the CA file and an npmrc naming it are mounted read-only for the RUN steps only (`--volume`), so the image's
 * layers, and what users build, stay the same.
 */
const npmTrustVolumes = async (cacheDir: string): Promise<ReadonlyArray<string>> => {
  const cafile = (await run("npm", ["config", "get", "cafile"])).trim()
  if (cafile === "" || cafile === "null" || cafile === "undefined" || !existsSync(cafile)) return []
  const npmrc = join(cacheDir, "containers", "build-npmrc")
  writeFileSync(npmrc, "cafile=/root/.tcr-assistant-kit-ca.crt\n")
  return ["--volume", `${cafile}:/root/.tcr-assistant-kit-ca.crt:ro`, "--volume", `${npmrc}:/root/.npmrc:ro`]
}

/** vfs keeps a full copy per image: only the newest build of the Dockerfile stays in the cache. */
const pruneOtherBuilds = async (storage: BuildahStorage, cacheDir: string, keep: string): Promise<void> => {
  const names = (await buildah(storage, ["images", "--format", "{{.Name}}:{{.Tag}}"])).split("\n").map((line) => line.trim())
  const stale = names.filter((name) => name.startsWith("localhost/tcr-assistant-inputs:") && name !== `localhost/tcr-assistant-inputs:${keep}`)
  for (const name of stale) await buildah(storage, ["rmi", name]).catch(() => undefined)
  for (const entry of readdirSync(join(cacheDir, "addon"))) {
    if (entry !== keep) rmSync(join(cacheDir, "addon", entry), { recursive: true, force: true })
  }
}

/**
 * Builds (or reuses) the add-on's image from the repository's Dockerfile and writes its OCI archive under
 * `~/.cache/tcr-assistant/image/addon/<inputs>/`. Cold: the base (Debian packages, npm) and `npm ci` inside the
 * build reach their registries; warm (same inputs): nothing runs but two `buildah inspect`.
 */
export const buildAddonImage = async (options: { cacheDir?: string } = {}): Promise<AddonImage> => {
  const cacheDir = options.cacheDir ?? imageCacheDir()
  await ensureTools()
  mkdirSync(cacheDir, { recursive: true })
  // Two builds on one storage (two test runs, a test and `npm start`) would step on each other's layers.
  const release = await acquireBuildLock(join(cacheDir, ".build.lock"),
    (line) => process.stderr.write(`${line}\n`), "the add-on image")
  try {
    return await buildUnlocked(cacheDir)
  } finally {
    release()
  }
}

const buildUnlocked = async (cacheDir: string): Promise<AddonImage> => {
  const storage = buildahStorage(cacheDir)

  const base = baseKey()
  const baseStart = process.hrtime.bigint()
  const baseBuilt = (await imageId(storage, `localhost/tcr-assistant-base:${base}`)) === undefined
  if (baseBuilt) await buildBase(storage, cacheDir, base)
  else await buildah(storage, ["tag", `localhost/tcr-assistant-base:${base}`, baseImageName])
  const baseSeconds = seconds(baseStart)

  const inputsKey = imageKey(base)
  const out = join(cacheDir, "addon", inputsKey)
  const ociLayout = join(out, "oci")
  const ociArchive = join(out, "tcr-assistant.oci.tar")
  const ociTag = addonImageName.slice(addonImageName.lastIndexOf(":") + 1)
  const keyTag = `localhost/tcr-assistant-inputs:${inputsKey}`
  const imageStart = process.hrtime.bigint()
  let id = await imageId(storage, keyTag)
  const imageBuilt = id === undefined || !existsSync(ociArchive)
  if (imageBuilt) {
    if (id === undefined) {
      await buildah(storage, [
        "bud", "--isolation", "chroot", "--pull=never", "--layers=false",
        ...(await npmTrustVolumes(cacheDir)),
        "-f", "Dockerfile", "-t", addonImageName, "-t", keyTag, "."
      ])
      id = (await imageId(storage, keyTag))!
    }
    rmSync(out, { recursive: true, force: true })
    mkdirSync(out, { recursive: true })
    await buildah(storage, ["push", keyTag, `oci:${ociLayout}:${ociTag}`])
    // ctr names an imported image after io.containerd.image.name; skopeo's oci:DIR:TAG reads ref.name.
    const indexPath = join(ociLayout, "index.json")
    const index = JSON.parse(readFileSync(indexPath, "utf8")) as { manifests: Array<{ annotations?: Record<string, string> }> }
    for (const manifest of index.manifests) {
      manifest.annotations = { ...manifest.annotations, "io.containerd.image.name": addonImageName, "org.opencontainers.image.ref.name": ociTag }
    }
    writeFileSync(indexPath, JSON.stringify(index))
    await run("tar", ["-cf", `${ociArchive}.partial`, "-C", ociLayout, "."])
    renameSync(`${ociArchive}.partial`, ociArchive)
    await pruneOtherBuilds(storage, cacheDir, inputsKey)
  } else {
    await buildah(storage, ["tag", keyTag, addonImageName])
  }
  return {
    ociArchive,
    ociLayout,
    ociTag,
    reference: addonImageName,
    buildah: storage,
    imageId: id!,
    inputsKey,
    built: { base: baseBuilt, image: imageBuilt },
    seconds: { base: baseSeconds, image: seconds(imageStart) },
    archiveBytes: statSync(ociArchive).size
  }
}

/** Paths of the image's /app relative to it, for tests that check what the image holds. */
export const listTree = (root: string): ReadonlyArray<string> => {
  const result: Array<string> = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      result.push(relative(root, path))
      if (entry.isDirectory()) walk(path)
    }
  }
  walk(root)
  return result
}
