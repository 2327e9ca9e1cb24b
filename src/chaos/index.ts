export { chaosMain, chaosTarget, formatSummary, runChaos, SCENARIOS, CHAOS_USAGE, type ChaosSummary, type ChaosRunOptions } from "./run.ts";
export { ChaosUsageError, type ChaosContext, type ChaosOptions, type ChaosScenario, type ChaosTarget } from "./types.ts";
