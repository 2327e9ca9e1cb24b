import type { PlaybookAction, PlaybookConfig, PlaybookMode } from "../config/index.ts";
import { scrub, secretsIn } from "../core/index.ts";

/**
 * A run's life: proposed runs wait for approval (approve mode) and may
 * expire or be rejected; others are queued, run, and end succeeded or failed.
 */
export const RUN_STATES = ["awaiting_approval", "queued", "running", "succeeded", "failed", "expired", "rejected"] as const;
export type RunState = (typeof RUN_STATES)[number];

/** States a run never leaves. */
export const TERMINAL_STATES: readonly RunState[] = ["succeeded", "failed", "expired", "rejected"];

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** `recovery` runs the playbook's steps; `restore` runs its restore steps once the trigger is clear. */
export type RunKind = "recovery" | "restore";

/** Which list of steps a step belongs to. */
export type RunPhase = "steps" | "fallback";

export type StepState = "pending" | "started" | "succeeded" | "failed";

/** One step of a run, as it went: the audit of what ran, on what, for how long, and what it saw. */
export interface StepRecord {
  index: number;
  phase: RunPhase;
  action: PlaybookAction;
  /** What the step does, in words ("restart the failing gateway nodes"). */
  label: string;
  /** The settings as written in pulseboard.yaml. */
  settings: Record<string, unknown>;
  state: StepState;
  /** First start (kept when the step is resumed). */
  started_at?: string;
  ended_at?: string;
  /** Wall time of the attempt that ended it. */
  took_ms?: number;
  /** How many times it was started (more than 1 only after an interruption or a retry). */
  attempts: number;
  summary?: string;
  details?: Record<string, unknown>;
  /** What the step remembered before an unsafe call (the replica count it asked for, …). */
  intent?: Record<string, unknown>;
  /** How an interrupted step was picked up again. */
  resumed?: "repeated" | "checked";
  /** A restore step that found the time not right yet: the restore ended here and is tried again later. */
  deferred?: boolean;
}

/** What fired the run. */
export interface RunTrigger {
  /** In words: "Realtime gateway has been major outage for 12 s". */
  description: string;
  /** When the condition began (ISO 8601), if known. */
  since?: string;
  /** What was observed (status, value, bound). */
  observed: Record<string, unknown>;
  at: string;
}

/** Where a person decided on a run, or asked for one. */
export type DecisionVia = "api" | "console" | "link";

export interface RunApproval {
  requested_at: string;
  expires_at: string;
  /** Who decided, and how: the admin API, the console or an approve link. */
  decision?: "approved" | "rejected" | "expired";
  by?: string;
  via?: DecisionVia | "timeout";
  decided_at?: string;
}

/** One execution of a run by a worker; more than one means it was resumed. */
export interface RunExecution {
  worker: string;
  started_at: string;
  /** The step it began at: `steps[2]`. */
  from: string;
}

/** The audit record of one run of one playbook, kept in Redis and listed by the admin API. */
export interface PlaybookRun {
  id: string;
  playbook: string;
  name: string;
  kind: RunKind;
  mode: PlaybookMode;
  /** What it acts on (one run at a time per target). */
  target: string;
  state: RunState;
  trigger: RunTrigger;
  /**
   * A run a person asked for (a dry run from the admin API or the console)
   * rather than one its trigger fired: it claims no guard (never busy, no
   * cooldown, not counted in max runs) and its end changes none.
   */
  requested?: { by: string; via: DecisionVia; at: string };
  /** The incident its timeline entries go to. */
  incident?: string;
  /** The run opened that incident itself (nothing else had), and resolves it when it succeeds. */
  opened_incident?: boolean;
  /** The playbook as it was when the run was claimed: a config change never alters a run under way. */
  inputs: PlaybookConfig;
  steps: StepRecord[];
  fallback: StepRecord[];
  approval?: RunApproval;
  escalation?: { at: string; channels: string[]; reason: string };
  executions: RunExecution[];
  /** How it ended, in a sentence. */
  outcome?: string;
  created_at: string;
  started_at?: string;
  ended_at?: string;
  updated_at: string;
  /** Incremented on every write; guards against lost updates. */
  revision: number;
}

/** Step records for a list of configured steps, all pending; a label never shows a secret of its settings (it goes on timelines and approve pages). */
export function pendingSteps(steps: PlaybookConfig["steps"], phase: RunPhase, label: (action: PlaybookAction, settings: Record<string, unknown>) => string): StepRecord[] {
  return steps.map((step, index) => ({ index, phase, action: step.action, label: scrub(label(step.action, step.settings), secretsIn(step.settings)), settings: step.settings, state: "pending", attempts: 0 }));
}
