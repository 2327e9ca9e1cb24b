import type { Queue } from "bullmq";
import type { ResolvedProbe } from "../config/index.ts";
import { newId, stableId } from "../core/index.ts";
import type { EvaluateJob } from "../pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../probe-runtime/index.ts";
import { expectation, HEARTBEAT_KIND, type HeartbeatTiming } from "./timing.ts";

/** The evaluate job options an agent uses, so a heartbeat's result travels like any other. */
const EVALUATE_JOB = { removeOnComplete: 1_000, removeOnFail: 5_000, attempts: 5, backoff: { type: "exponential", delay: 500 } } as const;

/** Hands a result to the evaluator exactly as an agent does (the result id is the job id: added twice, it is stored once). */
export async function queueResult(evaluate: Queue<EvaluateJob>, result: ProbeResult): Promise<void> {
  await evaluate.add("result", { result }, { jobId: result.id, ...EVALUATE_JOB });
}

/** A heartbeat check's results are judged at one location (config/resolve.ts gives it exactly one). */
function locationOf(probe: ResolvedProbe): string {
  return probe.locations[0]!;
}

/** What one ping says: ok, or failed with the job's own message. */
export function pingResult(probe: ResolvedProbe, ping: { status: Extract<ProbeStatus, "ok" | "failed">; message?: string; at: number; method: string; previousAt?: number }): ProbeResult {
  const at = new Date(ping.at).toISOString();
  const failed = ping.status === "failed";
  return {
    id: newId(16),
    probe: probe.id,
    kind: HEARTBEAT_KIND,
    location: locationOf(probe),
    status: ping.status,
    latency_ms: 0,
    phases: {},
    ...(failed ? { error: ping.message ?? "the job reported a failure (status=fail) and gave no msg" } : {}),
    details: {
      source: "ping",
      method: ping.method,
      ...(!failed && ping.message ? { message: ping.message } : {}),
      ...(ping.previousAt !== undefined ? { previous_ping_at: new Date(ping.previousAt).toISOString() } : {}),
    },
    started_at: at,
    finished_at: at,
  };
}

/**
 * A missed deadline: nothing came for `every + grace` since `since` (the last
 * ping, or when the check was first watched if it never got one). Its id
 * derives from the deadline, so the same miss is the same result anywhere.
 */
export function missedResult(probe: ResolvedProbe, miss: { since: number; pinged: boolean; deadline: number; n: number; at: number }, timing: HeartbeatTiming): ProbeResult {
  const since = new Date(miss.since).toISOString();
  const at = new Date(miss.at).toISOString();
  const error = miss.pinged ? `no ping since ${since} (${expectation(timing)})` : `no ping since the check started at ${since}: it was never pinged (${expectation(timing)})`;
  return {
    id: `hb-${stableId(`${probe.id}:${miss.since}:${miss.n}`)}`,
    probe: probe.id,
    kind: HEARTBEAT_KIND,
    location: locationOf(probe),
    status: "failed",
    latency_ms: 0,
    phases: {},
    error,
    details: { source: "deadline", [miss.pinged ? "last_ping_at" : "watched_since"]: since, deadline: new Date(miss.deadline).toISOString(), missed: miss.n + 1 },
    started_at: at,
    finished_at: at,
  };
}
