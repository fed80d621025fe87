// The hosts-updater package: keeps a managed block of registry entries in a node's hosts file.
export {
  FileError,
  nodeFileOps,
  readFileIfExists,
  removeStaleTempFiles,
  replaceFileAtomically,
  type FileOps,
  type WriteOutcome
} from "./atomic-file.ts"
export {
  beginMarker,
  endMarker,
  mergeManagedBlock,
  readManagedBlock,
  renderBlockLines,
  type HandListedName,
  type MergeResult
} from "./hosts-block.ts"
export {
  emptyHostsConfig,
  HostsConfigInvalid,
  hostsConfigFromData,
  hostsConfigKey,
  HostsViolation,
  parseHostsConfig,
  type HostsConfig,
  type HostsEntry
} from "./hosts-config.ts"
export { HostsFile } from "./hosts-file.ts"
export {
  expectedHostsConfigHash,
  hostsAnnotations,
  hostsConfigHash,
  nodeAnnotationsPatch,
  nodeIsUpToDate,
  readNodeHostsState,
  type AppliedRecord,
  type NodeHostsState
} from "./applied-state.ts"
export { HealthServerError, HealthServerLive, healthReply, type HealthServerOptions } from "./health-server.ts"
export { HostsAgentLive, makeHostsAgent, type HostsAgentOptions } from "./hosts-agent.ts"
export {
  defaultConfigMapName,
  defaultHealthPort,
  defaultNamespace,
  HostsUpdaterLive,
  resolveHostsUpdaterOptions,
  runHostsUpdater,
  type HostsUpdaterOptions,
  type ResolvedHostsUpdaterOptions
} from "./main.ts"
export { NodeReporter, reportingComponent, type NodeReporterOptions } from "./node-reporter.ts"
export { unreadyReasons, UpdaterStatus, type ApplyOutcome, type UpdaterSnapshot } from "./updater-status.ts"
export { configMapInformer, trackUpdaterMetrics } from "./updater-metrics.ts"
