export type {
  ActionOutcome,
  CacheMode,
  DriverCall,
  FleetAction,
  FleetDriver,
  FleetDriverContext,
  FleetDriverKind,
  FleetNode,
  FleetStats,
  GatewayAdminTarget,
  RestartTarget,
} from "./types.ts";
export { defineFleetDriver, FLEET_ACTIONS } from "./types.ts";
export { FleetConfigError, FleetError, FleetNodeNotFound, FleetPermissionError, FleetUpstreamError, FleetValidationError } from "./errors.ts";
export { createFleetDriver, FLEET_DRIVER_KINDS, fleetDrivers, fleetKinds, isFleetDriverName, type FleetDriverName } from "./registry.ts";
export { GatewayAdminClient, type AdminNode, type AdminNodeStats, type AdminStats } from "./gateway-admin.ts";
