export { chaosMain, chaosTarget, runChaos, SCENARIOS, CHAOS_USAGE, type ChaosRunOptions } from "./run.ts";
export { formatSummary, incidentEvents, repairedBy, runsDuring, type ChaosSummary, type IncidentEvent, type IncidentRecord, type RunRecord } from "./summary.ts";
export { ChaosUsageError, type ChaosContext, type ChaosOptions, type ChaosScenario, type ChaosTarget } from "./types.ts";
