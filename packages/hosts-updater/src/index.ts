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
