export { loadConfig, parseConfig, type LoadOptions } from "./load.ts";
export { formatIssues, formatPath, shown } from "./issues.ts";
export type { Config, FleetConfig, SubscriptionsConfig, GatewayConfig, ResolvedProbe, ResolvedChannel, ProbeKindSchemas, KindSchemas } from "./resolve.ts";
export { parseSize } from "./size.ts";
export { pageUrlWarning } from "./page-url.ts";
export { durationProblem, durationSchema, formatDuration, parseDuration } from "./duration.ts";
export {
  COMPONENT_STATUSES,
  type ComponentStatus,
  type ComponentConfig,
  type LocationConfig,
  type ChannelConfig,
  type RouteConfig,
  type MaintenanceConfig,
} from "./schema.ts";
export { ConfigWatcher } from "./watch.ts";
export { PUBLISH_MODES, type PublishMode } from "./incidents.ts";
export { CONSOLE_SCOPES, OIDC_CALLBACK_PATH, type ConsoleScope, type OidcConfig } from "./oidc.ts";
export { DEFAULT_WORDING, INCIDENT_PHASES, EFFECT_STATUSES, type IncidentPhase, type EffectStatus, type Wording } from "./wording.ts";
export {
  PLAYBOOK_ACTIONS,
  PLAYBOOK_MODES,
  GATEWAY_STATS,
  type PlaybookAction,
  type PlaybookMode,
  type GatewayStat,
  type PlaybookConfig,
  type PlaybookTrigger,
  type PlaybookStepConfig,
  type PlaybookStepKinds,
  type StepReference,
} from "./playbooks.ts";
export { checkPlaybook } from "./playbook-check.ts";
export { tlsSetting } from "./tls.ts";
export { templateProblem } from "./wording.ts";
export { noSuchId } from "./closest.ts";
