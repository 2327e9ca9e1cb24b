import type { ResolvedProbe } from "../config/index.ts";
import { formatDuration } from "../config/index.ts";

/** The probe kind whose results are pushed by pings, not made by agents (probes/heartbeat.ts). */
export const HEARTBEAT_KIND = "heartbeat";

/** How often a heartbeat check expects a ping, and how late one may be. */
export interface HeartbeatTiming {
  everyMs: number;
  graceMs: number;
}

export function isHeartbeat(probe: ResolvedProbe): boolean {
  return probe.kind === HEARTBEAT_KIND;
}

/** A heartbeat probe's `every` and `grace` as probes/heartbeat.ts parsed them. */
export function heartbeatTiming(probe: ResolvedProbe): HeartbeatTiming {
  const settings = probe.with as { every?: unknown; grace?: unknown } | undefined;
  const { every, grace } = settings ?? {};
  if (typeof every !== "number" || typeof grace !== "number") {
    throw new Error(`probe ${probe.id} is not a resolved heartbeat check (its settings have no parsed every and grace)`);
  }
  return { everyMs: every, graceMs: grace };
}

/** "expected every 5m, grace 1m", as results and answers say it. */
export function expectation(timing: HeartbeatTiming): string {
  return `expected every ${formatDuration(timing.everyMs)}, grace ${formatDuration(timing.graceMs)}`;
}
