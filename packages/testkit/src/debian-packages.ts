// Owns installing the Debian packages the test kit needs (buildah for the image; containerd, kubelet's helpers and a
// registry for the real node) when they are missing, or saying in one line why that is impossible.
import { spawn } from "node:child_process"
import { existsSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** A file the kit needs and the Debian package that ships it. */
export interface DebianFile {
  /** An absolute path, or a program name looked up on PATH. */
  readonly file: string
  readonly pkg: string
}

export class DebianPackagesError extends Error {
  override readonly name = "DebianPackagesError"
}

const present = (file: string): boolean =>
  file.startsWith("/")
    ? existsSync(file)
    : (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, file)))

/** The packages whose files are missing, each once, in the order given. */
export const missingPackages = (files: ReadonlyArray<DebianFile>): ReadonlyArray<string> =>
  [...new Set(files.filter(({ file }) => !present(file)).map(({ pkg }) => pkg))]

const aptGet = (args: ReadonlyArray<string>): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn("apt-get", args, {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
    child.on("error", (error) => reject(new Error(`apt-get: ${error.message}`)))
    child.on("close", (code) => {
      if (code === 0) return resolve()
      const reasons = output.split("\n").filter((line) => line.startsWith("E:"))
      reject(new Error(reasons.join(" ") || `apt-get ${args[0]} exited with ${code}`))
    })
  })

// Debian starts a package's service on installation unless policy-rc.d says no; docker-registry's would listen on
// :5000 for good. The kit starts every daemon itself, so none may start on its own.
const policyRcD = "/usr/sbin/policy-rc.d"

/**
 * Installs, with apt-get, the packages of the files that are missing. `purpose` names what needs them, for the
 * error: "the real node needs containerd, runc: ... this process is not root".
 */
export const ensureDebianPackages = async (purpose: string, files: ReadonlyArray<DebianFile>): Promise<void> => {
  const packages = missingPackages(files)
  if (packages.length === 0) return
  const needs = `${purpose} needs ${packages.join(", ")}`
  if (process.getuid?.() !== 0) {
    throw new DebianPackagesError(`${needs}: install them (apt-get install ${packages.join(" ")}); this process is not root`)
  }
  if (!present("apt-get")) {
    throw new DebianPackagesError(`${needs}: install them with your system's package manager (no apt-get here)`)
  }
  const guard = !existsSync(policyRcD)
  if (guard) writeFileSync(policyRcD, "#!/bin/sh\nexit 101\n", { mode: 0o755 })
  try {
    // A fresh machine may have no package lists yet, or old ones naming versions the mirror no longer has.
    await aptGet(["update"])
    await aptGet(["install", "-y", "--no-install-recommends", ...packages])
  } catch (error) {
    throw new DebianPackagesError(`${needs} and apt-get could not install them: ${(error as Error).message}`)
  } finally {
    if (guard) rmSync(policyRcD, { force: true })
  }
  const stillMissing = files.filter(({ file }) => !present(file)).map(({ file }) => file)
  if (stillMissing.length > 0) {
    throw new DebianPackagesError(`${needs}; after installing them, ${stillMissing.join(", ")} still do not exist`)
  }
}
