import type { z } from "zod";
import type { Config, PlaybookAction, StepReference } from "../../config/index.ts";
import type { Logger } from "../../core/index.ts";
import type { FleetDriver } from "../../fleet/index.ts";
import type { Incident } from "../../status/index.ts";
import type { PlaybookRun } from "../model.ts";

/** What an interrupted step's `check` answers when nothing it asked for ever happened. */
export const NOT_STARTED = Symbol("not started");

/** What a step did: `ok` false is a failure the playbook escalates (the summary says why). */
export interface StepOutcome {
  ok: boolean;
  /** One or two sentences for the incident timeline and the run record. */
  summary: string;
  details?: Record<string, unknown>;
  /**
   * In a restore: the time is not right yet (a scale-in with clients that
   * still need the nodes). The restore ends here and is tried again once the
   * trigger has been clear for another `after`.
   */
  defer?: boolean;
}

/** One run of one probe at one location, as verify sees it. */
export interface ProbeSample {
  location: string;
  status: "ok" | "degraded" | "failed";
  latency_ms: number;
  error?: string;
  started_at: string;
}

/** Runs probes now, for `verify` (through the agents' run-now, else the latest results). */
export interface ProbeRunner {
  /** The probe's display name, or undefined when it is not configured. */
  name(probe: string): string | undefined;
  /** One fresh result per location of the probe, none older than `sinceMs`. */
  run(probe: string, sinceMs: number, signal: AbortSignal): Promise<ProbeSample[]>;
}

/** A post straight to chosen channels, outside the incident's timeline (approval requests, notify, escalation). */
export interface ChannelPost {
  /** Idempotency key: posting again with the same key sends nothing twice. */
  key: string;
  channels: string[];
  urgency: "high" | "low";
  body: string;
  /** The incident the post is about; without one a stand-in named after the run is sent. */
  incident?: Incident;
  /** Names the stand-in incident. */
  title: string;
  /** Who the post is from. @defaultValue "Pulseboard playbooks" */
  author?: string;
}

export interface ChannelPoster {
  post(post: ChannelPost): Promise<void>;
}

/** Small state a target keeps between runs (when it was last scaled, …). */
export interface TargetMemory {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
}

/** Everything a step may use: the fleet, probes, channels, and its own record. */
export interface StepContext {
  /** Aborts at the step's deadline or when the worker stops. */
  signal: AbortSignal;
  /** Dry run: describe what would be done, change nothing. */
  dryRun: boolean;
  fleet: FleetDriver;
  probes: ProbeRunner;
  posts: ChannelPoster;
  target: TargetMemory;
  run: Readonly<PlaybookRun>;
  /** This step's idempotency key (the same across a resume). */
  key: string;
  /** When this step first started (ms), kept across a resume. */
  firstStartedAt: number;
  /** What the step remembered before an unsafe call, when it is resumed after an interruption. */
  intent?: Record<string, unknown>;
  /** Records what the step is about to do before doing it, so a resume repeats exactly that. */
  remember(intent: Record<string, unknown>): Promise<void>;
  /** The incident the run reports to, if any. */
  incident(): Promise<Incident | undefined>;
  config: Config;
  log: Logger;
}

/**
 * One step kind: one file in src/playbooks/steps/. `configSchema` validates a
 * step's settings in pulseboard.yaml (without `action`).
 *
 * `resume` says what happens to a step found started but unfinished after
 * its worker died: `repeat` runs it again (it is safe to, given what it
 * remembered), `check` asks `check()` whether its effect is there and never
 * runs it blindly a second time.
 */
export interface PlaybookStep<Settings = unknown> {
  action: PlaybookAction;
  description: string;
  configSchema: z.ZodType<Settings>;
  resume: "repeat" | "check";
  /** The longest the step may take. */
  timeoutMs(settings: Settings): number;
  /** What the step does, in a few words ("restart the failing gateway nodes"). */
  describe(settings: Settings): string;
  run(settings: Settings, ctx: StepContext): Promise<StepOutcome>;
  /**
   * For `resume: "check"`: the outcome when the interrupted step's effect is
   * found; NOT_STARTED when provably nothing it asked for happened (it is then
   * run, safely: for the first time); undefined when that cannot be told.
   */
  check?(settings: Settings, ctx: StepContext): Promise<StepOutcome | typeof NOT_STARTED | undefined>;
  /** Probes, channels or components the settings name, so config can check they exist. */
  references?(settings: Settings): StepReference[];
  /** The settings as written, with secrets masked, for the admin API. */
  redact?(written: Record<string, unknown>): Record<string, unknown>;
}

/** Defines a step kind with its settings type inferred from the schema. */
export function defineStep<S extends z.ZodType>(step: {
  action: PlaybookAction;
  description: string;
  configSchema: S;
  resume: "repeat" | "check";
  timeoutMs(settings: z.output<S>): number;
  describe(settings: z.output<S>): string;
  run(settings: z.output<S>, ctx: StepContext): Promise<StepOutcome>;
  check?(settings: z.output<S>, ctx: StepContext): Promise<StepOutcome | typeof NOT_STARTED | undefined>;
  references?(settings: z.output<S>): StepReference[];
  redact?(written: Record<string, unknown>): Record<string, unknown>;
}): PlaybookStep<z.output<S>> {
  return step as PlaybookStep<z.output<S>>;
}
