export * from "./types.ts";
export { runProbe, type RunOptions } from "./run.ts";
export { ProbeRegistry, PROBES_DIR } from "./registry.ts";
export { GatewaySession, NodeSessions, explainSocketError, type GatewayFrame, type GatewayRefusal, type SessionOptions } from "./gateway-session.ts";
export {
  adminGet,
  BYPASS_NOTE,
  fleetStats,
  gatewayNodes,
  nodeUrl,
  requireAdmin,
  type FleetNodeView,
  type GatewayAdminTarget,
  type GatewayNodeList,
  type GatewayNodeTarget,
  type SafeguardView,
} from "./gateway-admin.ts";
export { continuityProblems, deliveryProblems, splitSerial } from "./serials.ts";
export { channelSetting, durationSetting, fleetMessagingSettings, gatewayAdminSetting, httpUrlSetting, probeChannel, wsUrlSetting } from "./settings.ts";
export { runClock, type RunClock } from "./deadline.ts";
export { checkEgressUrl, egressLookup } from "../core/index.ts";
export * from "./realtime/index.ts";
export { gatewaySafeguard, type GatewaySafeguardSettings } from "./gateway-safeguard.ts";
