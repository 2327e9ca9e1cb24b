export { heartbeatContext, type HeartbeatContext } from "./context.ts";
export { HeartbeatKeys } from "./keys.ts";
export { recordPing, recordPingInput, UnknownHeartbeat, MESSAGE_MAX, type PingReceipt, type RecordPingInput } from "./record-ping.ts";
export { startHeartbeatChecker, type HeartbeatCheckerOptions } from "./checker.ts";
export { expectation, heartbeatTiming, HEARTBEAT_KIND, isHeartbeat, type HeartbeatTiming } from "./timing.ts";
