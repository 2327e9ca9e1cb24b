import { refusalOf } from "./client-base.ts";
import { openClient } from "./messaging.ts";
import type { RealtimeSettings } from "./settings.ts";
import type { ConnectTarget, Refusal } from "./types.ts";

/** What one fresh connection found: welcomed, refused (in the broker's words), stuck in a phase, or broken. */
export type Attempt =
  | { outcome: "welcomed"; ms: number }
  | { outcome: "refused"; refusal: Refusal }
  | { outcome: "timeout"; step: string; ms: number }
  | { outcome: "error"; message: string };

/**
 * Opens one fresh connection the way a new client would, within `within`
 * ms (and the run's signal), and closes it again: what a safeguard check
 * compares with the clients already connected. Never throws.
 */
export async function attemptConnection(settings: RealtimeSettings, target: ConnectTarget, within: number, signal: AbortSignal): Promise<Attempt> {
  const local = new AbortController();
  const stop = (): void => local.abort();
  signal.addEventListener("abort", stop, { once: true });
  const timer = setTimeout(stop, within);
  const started = performance.now();
  let step = "connect";
  try {
    const client = await openClient(settings, target, { signal: local.signal, phase: (name, work) => ((step = name), work()) });
    client.close();
    return { outcome: "welcomed", ms: round(performance.now() - started) };
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) return { outcome: "refused", refusal };
    if (local.signal.aborted) return { outcome: "timeout", step, ms: round(performance.now() - started) };
    return { outcome: "error", message: (err as Error).message };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
    local.abort();
  }
}

/** "got no upgrade within 850 ms", "was refused: …": the end of "a new connection …". */
export function describeAttempt(result: Attempt): string {
  switch (result.outcome) {
    case "welcomed":
      return `was welcomed in ${result.ms} ms`;
    case "refused":
      return `was refused: ${quoted(result.refusal.message)}${result.refusal.retryAfterMs !== undefined ? ` (retry after ${result.refusal.retryAfterMs} ms)` : ""}`;
    case "timeout":
      return `got no ${STEP_WORDS[result.step] ?? "answer"} within ${Math.round(result.ms)} ms`;
    case "error":
      return `failed: ${result.message}`;
  }
}

const STEP_WORDS: Record<string, string> = { connect: "TCP connection", upgrade: "upgrade", welcome: "welcome frame", handshake: "handshake" };

/** The broker's words in quotes, unless they carry their own (`close 1013 "…"`, `-ERR '…'`). */
function quoted(words: string): string {
  return /["']/.test(words) ? words : `"${words}"`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
