export { playbookSteps, playbookStepKinds, stepOf } from "./steps/registry.ts";
export type { PlaybookStep, StepContext, StepOutcome, ProbeRunner, ProbeSample, ChannelPoster, ChannelPost, TargetMemory } from "./steps/types.ts";
export {
  RUN_STATES,
  TERMINAL_STATES,
  isTerminal,
  type PlaybookRun,
  type RunState,
  type RunKind,
  type RunPhase,
  type StepRecord,
  type RunTrigger,
  type RunApproval,
  type DecisionVia,
} from "./model.ts";
export { PlaybookStore, RunConflict, type ClaimResult, type Guard, type PlaybookState } from "./store.ts";
export { PlaybookKeys } from "./keys.ts";
export { HeldRuns, type HeldRun, type HoldGuard } from "./holds.ts";
export { RunExecutor, type RunnerOptions, type ExecuteOutcome } from "./runner.ts";
export { newRun, planOf, stepLabel } from "./runs.ts";
export { ApprovalSigner, type ApprovalLink } from "./approval.ts";
export { appendDecisionEntry } from "./timeline.ts";
export { describeTrigger, statValue, crosses, quorumSince, type Observation } from "./triggers.ts";
export { redactPlaybook, redactRun } from "./redact.ts";
