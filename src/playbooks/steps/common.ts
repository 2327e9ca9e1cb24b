import { z } from "zod";
import { durationSchema, formatDuration } from "../../config/index.ts";

/** A duration setting written like "30s"; parses to milliseconds. */
export function durationSetting() {
  return durationSchema("30s");
}

/** A duration setting with a default (ms) when it is left out. */
export function optionalDuration(fallbackMs: number) {
  return durationSetting().default(fallbackMs);
}

/** A whole number of at least 1, with the message config errors use. */
export function atLeastOne() {
  return z.number({ error: "expected a whole number" }).int({ error: "expected a whole number" }).min(1, { error: "must be ≥ 1" });
}

/** Waits `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Sleeps until the wall clock reads `deadline` (epoch ms). Timers run on a monotonic clock and may
 * fire a millisecond before the wall clock gets there, so it checks and sleeps again when short.
 */
export async function sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
  for (let left = deadline - Date.now(); left > 0; left = deadline - Date.now()) await sleep(left, signal);
  if (signal.aborted) throw signal.reason as Error;
}

/** Milliseconds as a person reads them in a timeline: "850 ms", "4.2 s". */
export function took(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

/** "1 node", "3 nodes". */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

export { formatDuration };
