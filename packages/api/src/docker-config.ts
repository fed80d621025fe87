// The `.dockerconfigjson` payload of a `kubernetes.io/dockerconfigjson` Secret for one registry.

export interface DockerCredentials {
  readonly server: string
  readonly username: string
  readonly password: string
}

export const dockerConfigJsonKey = ".dockerconfigjson"
export const dockerConfigJsonType = "kubernetes.io/dockerconfigjson"

/** The JSON document kubelet reads: auths[server] with username, password and base64("username:password"). */
export const renderDockerConfigJson = (credentials: DockerCredentials): string =>
  JSON.stringify({
    auths: {
      [credentials.server]: {
        username: credentials.username,
        password: credentials.password,
        auth: Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")
      }
    }
  })

/** The Secret `data` map (base64 values) holding the payload. */
export const dockerConfigSecretData = (credentials: DockerCredentials): Record<string, string> => ({
  [dockerConfigJsonKey]: Buffer.from(renderDockerConfigJson(credentials), "utf8").toString("base64")
})
