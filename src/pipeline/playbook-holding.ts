import { formatDuration, type PlaybookConfig } from "../config/index.ts";
import type { PlaybookRun, PlaybookState, PlaybookStore } from "../playbooks/index.ts";

/** What holds a playbook back right now, were its trigger to fire. */
export type HoldingGuard = "disabled" | "busy" | "cooldown" | "max_runs" | "tripped" | "mitigated" | "maintenance" | "lock";

/** One guard holding a playbook back now: which, why in words, since and until when (when it knows), and the run concerned. */
export interface GuardNow {
  guard: HoldingGuard;
  /** Why, in words; the times are in `since` and `until`. */
  reason: string;
  /** Since when it holds (ISO 8601), when the guard knows. */
  since?: string;
  /** When it lets a run start again (ISO 8601), when the guard knows. */
  until?: string;
  /** The run it is about: the run in progress, the one that failed, the one holding the target's lock. */
  run?: string;
}

/** What `holdingNow` reads (one playbook's). */
export interface HoldingInput {
  playbook: PlaybookConfig;
  enabled: boolean;
  /** Switched through the admin API rather than by pulseboard.yaml. */
  toggled: boolean;
  state: PlaybookState;
  /** Its run in progress, when `state.active` names one that is still stored. */
  active?: PlaybookRun;
  /** When its recovery runs within its max-runs window started (ms, oldest first). */
  recentStarts: number[];
  /** The run holding the playbook's target's lock, and the playbook it belongs to. */
  lock?: { run: string; playbook?: string };
  now: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The guards that would keep a new run of this playbook from starting now,
 * in the order the engine applies them: switched off, its run in progress,
 * a failure not cleared yet, a mitigation still holding, a maintenance
 * window, its cooldown, its max runs; and the target's lock, which a run
 * waits for rather than being refused. Empty: a trigger firing now would
 * start a run.
 */
export function holdingNow(input: HoldingInput): GuardNow[] {
  const { playbook, state, now } = input;
  const { guards } = playbook;
  const held: GuardNow[] = [];
  if (!input.enabled) held.push({ guard: "disabled", reason: input.toggled ? "switched off through the admin API or the console" : "switched off in pulseboard.yaml (enabled: false)" });
  if (state.active) {
    const waiting = input.active?.state === "awaiting_approval";
    const reason = waiting ? `its run ${state.active} awaits approval` : `its run ${state.active} is ${input.active?.state ?? "in progress"}: one run at a time`;
    held.push({ guard: "busy", reason, run: state.active, ...(waiting && input.active!.approval ? { until: input.active!.approval.expires_at } : {}) });
  }
  if (state.tripped) held.push({ guard: "tripped", reason: `its run ${state.tripped} failed: no new run until its trigger clears (or it is enabled again)`, run: state.tripped });
  if (state.mitigated) held.push({ guard: "mitigated", reason: `its run ${state.mitigated} mitigated the trigger (once per episode): no new run until the trigger clears`, run: state.mitigated });
  if (state.held) held.push({ guard: "maintenance", reason: state.held.reason, since: state.held.since });
  if (state.last_ended_at !== undefined && now < state.last_ended_at + guards.cooldownMs) {
    const until = iso(state.last_ended_at + guards.cooldownMs);
    held.push({ guard: "cooldown", reason: `its cooldown of ${formatDuration(guards.cooldownMs)} after its last run`, since: iso(state.last_ended_at), until });
  }
  if (input.recentStarts.length >= guards.maxRuns) {
    const until = iso(input.recentStarts[0]! + guards.perMs);
    const times = input.recentStarts.length === 1 ? "time" : "times";
    held.push({ guard: "max_runs", reason: `it ran ${input.recentStarts.length} ${times} within ${formatDuration(guards.perMs)} (at most ${guards.maxRuns})`, until });
  }
  if (input.lock) {
    const whose = input.lock.playbook && input.lock.playbook !== playbook.id ? ` of the playbook ${input.lock.playbook}` : "";
    held.push({ guard: "lock", reason: `the ${playbook.target} target's lock is held by run ${input.lock.run}${whose}: a run waits until it is free`, run: input.lock.run });
  }
  return held;
}

/** Reads what `holdingNow` needs for one playbook from the store. */
export async function readHolding(store: PlaybookStore, playbook: PlaybookConfig, state: PlaybookState, flags: { enabled: boolean; toggled: boolean }, now = Date.now()): Promise<GuardNow[]> {
  const [active, recentStarts, holder] = await Promise.all([
    state.active ? store.run(state.active) : undefined,
    store.recentStarts(playbook.id, playbook.guards.perMs, now),
    store.lockHolder(playbook.target),
  ]);
  // The lock's value is `<run>:<token>`: the token is the holder's own and is never shown.
  // Its own run in progress holding it is said already (busy).
  const lockRun = holder && holder.split(":")[0] !== state.active ? holder.split(":")[0] : undefined;
  const lockOwner = lockRun ? (lockRun === active?.id ? active : await store.run(lockRun)) : undefined;
  return holdingNow({ playbook, ...flags, state, active, recentStarts, lock: lockRun ? { run: lockRun, playbook: lockOwner?.playbook } : undefined, now });
}
