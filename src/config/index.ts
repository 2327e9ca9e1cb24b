export { loadConfig, parseConfig, type LoadOptions } from "./load.ts";
export { formatIssues, formatPath } from "./issues.ts";
export type { Config, GatewayConfig, ResolvedProbe, ResolvedChannel, ProbeKindSchemas, KindSchemas } from "./resolve.ts";
export { parseSize } from "./size.ts";
export { parseDuration, formatDuration } from "./duration.ts";
export {
  COMPONENT_STATUSES,
  PLAYBOOK_ACTIONS,
  type ComponentStatus,
  type ComponentConfig,
  type LocationConfig,
  type ChannelConfig,
  type RouteConfig,
  type MaintenanceConfig,
  type PlaybookConfig,
} from "./schema.ts";
export { ConfigWatcher } from "./watch.ts";
