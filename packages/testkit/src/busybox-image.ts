// Owns the small images the real node runs without any public registry: an OCI image layout holding one layer with
// Debian's static busybox and its applet links, written by hand (tar and sha256), for the pause container and for
// the test pods' private image.
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { ensureDebianPackages } from "./debian-packages.ts"

export const busyboxBinary = "/bin/busybox"

export interface BusyboxImage {
  /** The OCI image layout directory (`oci:DIR:TAG` for skopeo). */
  readonly layoutDir: string
  /** A tar of the layout, what `ctr images import` reads. */
  readonly archive: string
  /** The full name containerd gives the image on import, e.g. registry.k8s.io/pause:3.10.1. */
  readonly name: string
  /** The tag in the layout's index (org.opencontainers.image.ref.name). */
  readonly tag: string
}

export interface BusyboxImageOptions {
  /** Full image name with tag, e.g. "registry.k8s.io/pause:3.10.1". */
  readonly name: string
  readonly cmd: ReadonlyArray<string>
}

export class BusyboxImageError extends Error {
  override readonly name = "BusyboxImageError"
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex")

const run = (command: string, args: ReadonlyArray<string>) => {
  const result = spawnSync(command, args, { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 })
  if (result.error !== undefined) throw new BusyboxImageError(`${command}: ${result.error.message}`)
  if (result.status !== 0) {
    throw new BusyboxImageError(`${[command, ...args].join(" ")} exited with ${result.status}: ${result.stderr.toString()}`)
  }
  return result.stdout
}

// Same bytes for the same busybox: sorted entries, root owner, the epoch as mtime.
const reproducibleTar = (sourceDir: string, archive: string) =>
  run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--format=posix",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "-C", sourceDir, "-cf", archive, "."])

const writeBlob = (layoutDir: string, data: Buffer) => {
  const digest = sha256(data)
  writeFileSync(join(layoutDir, "blobs", "sha256", digest), data)
  return { digest: `sha256:${digest}`, size: data.length }
}

/** The tag part of a full image name: "registry.k8s.io/pause:3.10.1" -> "3.10.1". */
export const imageTag = (name: string) => {
  const lastSlash = name.lastIndexOf("/")
  const colon = name.indexOf(":", lastSlash + 1)
  if (colon < 0) throw new BusyboxImageError(`image name ${name} has no tag`)
  return name.slice(colon + 1)
}

/**
 * Writes `<dir>/layout/` and `<dir>/image.tar` for an image whose only layer is busybox in /bin, installing Debian's
 * busybox-static first where it is missing (a fresh machine has no /bin/busybox).
 */
export const writeBusyboxImage = async (dir: string, options: BusyboxImageOptions): Promise<BusyboxImage> => {
  await ensureDebianPackages("the busybox image", [{ file: busyboxBinary, pkg: "busybox-static" }])
  const tag = imageTag(options.name)
  const layoutDir = join(dir, "layout")
  mkdirSync(join(layoutDir, "blobs", "sha256"), { recursive: true })
  const scratch = mkdtempSync(join(dir, "rootfs-"))
  try {
    const bin = join(scratch, "rootfs", "bin")
    mkdirSync(bin, { recursive: true })
    copyFileSync(busyboxBinary, join(bin, "busybox"))
    const applets = run(busyboxBinary, ["--list"]).toString().split("\n").filter((name) => /^[\w.[-]+$/.test(name))
    for (const applet of applets) if (applet !== "busybox") symlinkSync("busybox", join(bin, applet))
    const layerPath = join(scratch, "layer.tar")
    reproducibleTar(join(scratch, "rootfs"), layerPath)
    const layer = writeBlob(layoutDir, readFileSync(layerPath))
    const config = writeBlob(layoutDir, Buffer.from(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: options.cmd, Env: ["PATH=/bin"], WorkingDir: "/" },
      rootfs: { type: "layers", diff_ids: [layer.digest] }
    })))
    const manifest = writeBlob(layoutDir, Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }]
    })))
    writeFileSync(join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
    writeFileSync(join(layoutDir, "index.json"), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "io.containerd.image.name": options.name, "org.opencontainers.image.ref.name": tag }
      }]
    }))
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  const archive = join(dir, "image.tar")
  reproducibleTar(layoutDir, archive)
  return { layoutDir, archive, name: options.name, tag }
}

/** What the pause container runs: sleeps until SIGTERM, then exits 0. */
export const pauseCommand = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]
