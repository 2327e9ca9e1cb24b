export { GatewayNode, FaultsDisabled, type GatewayNodeOptions, type GatewayLimits, type Fault, type NodeStats } from "./node.ts";
export { GatewayFleet, NodeNotFound, type FleetStats, type NodeSummary, type NodeState } from "./fleet.ts";
export { startFleetAdmin } from "./fleet-admin.ts";
export { runFleetNode } from "./node-process.ts";
export { nodeOptions, nodeId, parseNodeId } from "./settings.ts";
export { parseClientFrame, PROTOCOL, type ClientFrame, type ServerFrame, type ErrorCode } from "./protocol.ts";
export { formatSerial, parseSerial, type Position } from "./serial.ts";
export type { CacheMode, HistorySettings } from "./broker.ts";
export { runFleetPrimary, type PrimarySettings } from "./primary.ts";
