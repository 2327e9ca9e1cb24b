export { QUEUE, probeQueue, bullPrefix, type ProbeJob, type EvaluateJob, type IncidentJob } from "./queues.ts";
export { startAgent, platformTargets, type Agent, type AgentOptions } from "./agent.ts";
export { startEvaluator, type EvaluatorOptions } from "./evaluate.ts";
export { startIncidentWorker, type IncidentWorkerOptions } from "./incidents.ts";
export { syncSchedules, type ScheduleSyncResult } from "./schedules.ts";
export { nextLocationState, probeState, componentStatusFor } from "./evaluation.ts";
export { startHousekeeping } from "./housekeeping.ts";
export { ProbeControl } from "./probe-control.ts";
