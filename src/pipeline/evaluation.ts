import type { ResolvedProbe } from "../config/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import type { ComponentStatus, ProbeLocationState } from "../status/index.ts";

type LocationState = ProbeLocationState["state"];
const RANK: Record<LocationState, number> = { up: 0, degraded: 1, down: 2 };

function observed(result: ProbeResult): LocationState {
  return result.status === "ok" ? "up" : result.status === "degraded" ? "degraded" : "down";
}

/**
 * Hysteresis for one probe at one location: the state changes only after
 * `fail_after` consecutive worse results or `recover_after` better ones.
 * A location starts `up`, so one bad result at start-up pages no one.
 */
export function nextLocationState(
  probe: ResolvedProbe,
  previous: ProbeLocationState | undefined,
  result: ProbeResult,
): ProbeLocationState {
  const seen = observed(result);
  const base: ProbeLocationState = previous ?? {
    state: "up",
    streak: 0,
    streak_state: "up",
    last_result_id: "",
    last_result_at: result.started_at,
    since: result.started_at,
  };
  const next = { ...base, last_result_id: result.id, last_result_at: result.finished_at, last_started_at: result.started_at };
  if (seen === base.state) return { ...next, streak: 0, streak_state: seen };
  const streak = seen === base.streak_state ? base.streak + 1 : 1;
  const needed = RANK[seen] > RANK[base.state] ? probe.fail_after : probe.recover_after;
  if (streak >= needed) return { ...next, state: seen, streak: 0, streak_state: seen, since: result.finished_at };
  return { ...next, streak, streak_state: seen };
}

/**
 * The probe's state across locations: the worst state that at least
 * `quorum` locations share (a location with no result yet counts as up).
 * Locations in `leftOut` (remote ones that are silent or never reported)
 * take no part: the others decide, with the quorum capped at how many are
 * left, and a probe with none left is up (an agent going quiet is not an
 * outage).
 */
export function probeState(probe: ResolvedProbe, states: Map<string, ProbeLocationState>, leftOut: ReadonlySet<string> = new Set()): LocationState {
  const counted = probe.locations.filter((l) => !leftOut.has(l));
  const quorum = Math.min(probe.quorum, counted.length);
  if (quorum === 0) return "up";
  for (const candidate of ["down", "degraded"] as const) {
    const agreeing = counted.filter((l) => RANK[states.get(l)?.state ?? "up"] >= RANK[candidate]).length;
    if (agreeing >= quorum) return candidate;
  }
  return "up";
}

/** What a probe in this state makes its components. */
export function componentStatusFor(probe: ResolvedProbe, state: LocationState): ComponentStatus {
  if (state === "down") return probe.impact;
  if (state === "degraded") return "degraded_performance";
  return "operational";
}
