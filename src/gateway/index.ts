export { GatewayNode, type GatewayNodeOptions } from "./node.ts";
export { GatewayFleet, runFleetNode, isFleetPrimary, nodeId, type FleetOptions } from "./fleet.ts";
export { parseClientFrame, LIMITS, type ClientFrame, type ServerFrame, type ErrorCode } from "./protocol.ts";
