import type { RedisTarget } from "../core/index.ts";
import type { GatewayAdminClient } from "../fleet/index.ts";

/** What a chaos scenario breaks: the running stack, as `pulseboard chaos` found it. */
export interface ChaosTarget {
  /** The status page's base URL (the public API and the admin API live there). */
  pageUrl: string;
  /** Pulseboard's admin API token, when known: the summary then lists playbook runs. */
  adminToken?: string;
  /** The gateway's shared WebSocket URL. */
  gatewayUrl: string;
  /** The gateway fleet's admin API. */
  fleet: GatewayAdminClient;
  /** The gateway's cache Redis; `embeddedDir` when `pulseboard start` runs it. */
  cache: { redis?: RedisTarget; embeddedDir?: string };
  /** Pulseboard's own Redis; `embeddedDir` when `pulseboard start` runs it. */
  control: { redis?: RedisTarget; embeddedDir?: string };
}

export interface ChaosOptions {
  /** How long the fault lasts at most. */
  durationMs: number;
  /** surge: connections to open (default: 1.2 × what the fleet accepts). */
  connections?: number;
  /** surge: connections opened per second. */
  rate?: number;
  /** safeguard-lockup, gateway-halt: the node to break. */
  node?: string;
}

/** What a scenario gets: the target, its bounds, Ctrl-C, and the progress line. */
export interface ChaosContext {
  target: ChaosTarget;
  options: ChaosOptions;
  /** Aborted on Ctrl-C (or SIGTERM): the scenario stops breaking things and restores what it broke. */
  signal: AbortSignal;
  /** Replaces the live progress line. */
  progress(line: string): void;
  /** A line that stays (what was broken, when). */
  note(line: string): void;
  /** Whether the stack went bad and is back to operational since the fault began. */
  recovered(): boolean;
  /** Sleeps until `ms` from now, Ctrl-C, or `done()` turning true (checked every 250 ms). */
  hold(ms: number, done?: () => boolean): Promise<void>;
}

/** One real outage, rehearsed. */
export interface ChaosScenario {
  name: string;
  /** The outage it reproduces, in one line. */
  description: string;
  defaultDurationMs: number;
  /**
   * Checks it can break the target, breaks it, holds the fault (at most
   * `durationMs`; a fault the playbooks repaired may end sooner), and
   * restores what it broke in a `finally`, so Ctrl-C restores too. Returns
   * what it did, in words, for the summary.
   */
  run(ctx: ChaosContext): Promise<string>;
}

/** A problem with the target or the options, said to the user as it is (exit status 2). */
export class ChaosUsageError extends Error {
  override name = "ChaosUsageError";
}
