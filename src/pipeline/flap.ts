import { worseStatus, type ComponentStatus } from "../status/index.ts";

/** What flap suppression remembers of one component between evaluations. */
export interface FlapState {
  /** The status the probes last gave, before suppression. */
  raw: ComponentStatus;
  /** When the raw status changed, within the window (ms). */
  changes: number[];
  /** Set while the component is held at this (worse) status. */
  held?: ComponentStatus;
}

export interface FlapVerdict {
  status: ComponentStatus;
  state: FlapState;
  /** Said in the reason while the component is held. */
  note?: string;
}

/**
 * Flap suppression: a component whose raw status changes `limit` times within
 * `windowMs` is held at the worst status it had, and says so, until it has
 * been stable for a whole window. One incident stays open instead of many
 * opening and closing.
 */
export function suppressFlaps(previous: FlapState | undefined, raw: ComponentStatus, now: number, windowMs: number, limit: number): FlapVerdict {
  const changes = (previous?.changes ?? []).filter((t) => now - t < windowMs);
  if (previous && previous.raw !== raw) changes.push(now);
  let held = previous?.held;
  if (changes.length >= limit) held = worseStatus(held ?? raw, worseStatus(previous?.raw ?? raw, raw));
  else if (held && changes.length === 0) held = undefined;
  const state: FlapState = { raw, changes, held };
  if (!held) return { status: raw, state };
  const status = worseStatus(held, raw);
  state.held = status;
  const minutes = Math.round(windowMs / 60_000);
  return {
    status,
    state,
    note: `Flapping: its status changed ${changes.length} times in the last ${minutes} min; held at ${status.replaceAll("_", " ")} until it is stable for ${minutes} min.`,
  };
}
