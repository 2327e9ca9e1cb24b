import type { z } from "zod";
import type { Logger } from "../core/index.ts";

/** What one run found: working, working badly, or not working. */
export type ProbeStatus = "ok" | "degraded" | "failed";

/** Where the managed platform lives, for probes whose settings leave the target out. */
export interface PlatformTargets {
  /** The gateway fleet's shared WebSocket URL (ws://host:4000/ws). */
  gatewayUrl: string;
  /**
   * Each gateway node's own URL as configured, so a probe can test node A →
   * node B. The fleet may have been scaled since: `gatewayAdmin`'s GET /nodes
   * has the live list.
   */
  gatewayNodeUrls: string[];
  /** The gateway fleet's admin API (GET /nodes, GET /stats), when known. */
  gatewayAdmin?: { url: string; token?: string };
  /** The gateway's cache Redis, when known to this process. */
  cacheRedisUrl?: string;
}

/** Handed to every run of a probe kind. */
export interface ProbeContext {
  /** The probe's id in pulseboard.yaml (a kind may keep state per probe, such as which node pair is next). */
  probe: string;
  /** The location this run is made from. */
  location: string;
  /** Aborts at the run's deadline; every socket and timer must end with it. */
  signal: AbortSignal;
  /** The run's hard deadline in ms from its start. */
  timeoutMs: number;
  log: Logger;
  targets: PlatformTargets;
  /**
   * Times one phase of the run (connect, upgrade, first frame, …). A failure
   * or the deadline during a phase is reported with the phase named.
   */
  phase<T>(name: string, work: () => Promise<T>): Promise<T>;
}

/** What a probe kind's `run` returns. Throwing means `failed` with the error's message. */
export interface ProbeReport {
  status: ProbeStatus;
  /** @defaultValue the run's wall time */
  latencyMs?: number;
  /** Why it is degraded or failed, in words a person can act on. */
  error?: string;
  details?: Record<string, unknown>;
}

/**
 * One probe kind: one file in probes/. `configSchema` validates the probe's
 * `with:` settings in pulseboard.yaml.
 */
export interface Probe<Settings = unknown> {
  kind: string;
  description: string;
  configSchema: z.ZodType<Settings>;
  run(settings: Settings, ctx: ProbeContext): Promise<ProbeReport>;
}

/** One run of one probe at one location: the unit the pipeline evaluates and stores. */
export interface ProbeResult {
  id: string;
  probe: string;
  kind: string;
  location: string;
  status: ProbeStatus;
  latency_ms: number;
  /** Milliseconds spent in each phase, in the order they ran. */
  phases: Record<string, number>;
  /** The phase that failed or ran out of time. */
  failed_phase?: string;
  error?: string;
  details?: Record<string, unknown>;
  started_at: string;
  finished_at: string;
  /** When the control plane received it, for a result a remote agent pushed (its clock may differ from the server's). */
  received_at?: string;
}

/** Thrown by a probe kind for a failure it understands; the message is shown as is. */
export class ProbeFailure extends Error {
  /** What the run found before it failed (which node pair, which messages); kept with the result. */
  readonly details?: Record<string, unknown>;

  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options);
    this.name = "ProbeFailure";
    this.details = options?.details;
  }
}

/** Defines a probe kind with its settings type inferred from the schema. */
export function defineProbe<S extends z.ZodType>(probe: {
  kind: string;
  description: string;
  configSchema: S;
  run(settings: z.output<S>, ctx: ProbeContext): Promise<ProbeReport>;
}): Probe<z.output<S>> {
  return probe as Probe<z.output<S>>;
}
