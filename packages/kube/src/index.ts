// Public surface of the Kubernetes layer: the only package that talks to the apiserver.
export * from "./informer.ts"
export * from "./object-view.ts"
export * from "./kube-client.ts"
export * from "./kube-error.ts"
export * from "./mutation-cache.ts"
export * from "./backoff.ts"
