// Public surface of the ImagePullSecret API package.
export * from "./crd.ts"
export * from "./docker-config.ts"
export * from "./image-pull-secret.ts"
export * from "./names.ts"
export * from "./selector.ts"
export * from "./validation.ts"
export * from "./source-secret.ts"
