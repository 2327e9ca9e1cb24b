import type { ProbeContext } from "./types.ts";

/** How long a run may still wait, leaving itself time to say what it found. */
export interface RunClock {
  /** Milliseconds left before the run should stop waiting and report (never below 0). */
  left(): number;
  /** Milliseconds since the run (this clock) started. */
  elapsed(): number;
}

/**
 * A clock for a run that waits on something it can name when it does not
 * come (a missing message, an unanswered publish). It stops a margin before
 * the hard deadline, so the kind reports "message 3 never arrived" instead
 * of the deadline's bare "timed out". Start it first thing in `run`.
 */
export function runClock(ctx: ProbeContext): RunClock {
  const started = performance.now();
  const margin = Math.max(50, Math.min(500, ctx.timeoutMs * 0.1));
  return {
    left: () => Math.max(0, ctx.timeoutMs - margin - (performance.now() - started)),
    elapsed: () => performance.now() - started,
  };
}
