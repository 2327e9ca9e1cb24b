import { formatDuration } from "../../config/index.ts";
import type { PlaybookView } from "../../pipeline/index.ts";
import { stepLabel, type HeldRun, type PlaybookRun, type RunState, type StepRecord } from "../../playbooks/index.ts";

/**
 * View models of the console's playbook pages: plain data the views print
 * (every text through `{{…}}`, which escapes it).
 */

const STATE_LABELS: Record<RunState, string> = {
  awaiting_approval: "Pending approval",
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  expired: "Expired",
  rejected: "Rejected",
};

const MODE_LABELS: Record<string, string> = { auto: "runs by itself", approve: "waits for approval", "dry-run": "dry runs only" };

const GUARD_LABELS: Record<string, string> = {
  disabled: "Switched off",
  busy: "Run in progress",
  cooldown: "Cooldown",
  max_runs: "Max runs",
  tripped: "Stopped by a failure",
  mitigated: "Mitigated",
  maintenance: "Maintenance",
  lock: "Lock held",
};

const VIA_WORDS: Record<string, string> = { api: "through the admin API", console: "in the console", link: "through an approve link", timeout: "at its timeout" };

/** How long something took, as the timeline says it ("840 ms", "3.2 s", "2 min 5 s"). */
export function tookWords(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const s = Math.round(ms / 1_000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

const span = (from?: string, to?: string) => (from && to ? tookWords(Date.parse(to) - Date.parse(from)) : undefined);

/** A run as a list row: what, its state in words, when, how long, how it ended. */
export function runRow(run: PlaybookRun) {
  const current = [...run.steps, ...run.fallback].find((s) => s.state === "started");
  return {
    id: run.id,
    name: run.name,
    state: run.state,
    stateLabel: STATE_LABELS[run.state],
    dryRun: run.mode === "dry-run",
    restore: run.kind === "restore",
    requestedBy: run.requested?.by,
    trigger: run.trigger.description,
    created_at: run.created_at,
    ended_at: run.ended_at,
    took: span(run.started_at, run.ended_at),
    current: current?.label,
    outcome: run.outcome,
    expires_at: run.state === "awaiting_approval" ? run.approval?.expires_at : undefined,
    plan: run.steps.map((s) => s.label).join(", then "),
  };
}

/** Runs split as the list page shows them: waiting for a decision, under way, finished (newest first). */
export function runGroups(runs: PlaybookRun[]) {
  const rows = runs.map(runRow);
  return {
    pending: rows.filter((r) => r.state === "awaiting_approval"),
    running: rows.filter((r) => r.state === "queued" || r.state === "running"),
    finished: rows.filter((r) => r.state !== "awaiting_approval" && r.state !== "queued" && r.state !== "running"),
  };
}

/** A playbook as a card: its mode, whether it is on, its trigger and steps in words, what holds it back now, its last run. */
export function playbookCard(view: PlaybookView) {
  return {
    id: view.id,
    name: view.name,
    mode: view.mode,
    modeLabel: MODE_LABELS[view.mode] ?? view.mode,
    enabled: view.enabled,
    toggled: view.toggled,
    target: view.target,
    trigger: view.trigger,
    steps: view.config.steps.map((s) => stepLabel(s.action, s.settings)),
    guards: guardsOf(view),
    holding: view.holding.map((h) => ({ ...h, label: GUARD_LABELS[h.guard] ?? h.guard })),
    lastRun: view.last_run ? runRow(view.last_run) : undefined,
  };
}

/** A held-back run (GET /admin/api/playbooks/holds) as a row. */
export function holdRow(hold: HeldRun) {
  return { ...hold, label: GUARD_LABELS[hold.guard] ?? hold.guard, restore: hold.kind === "restore" };
}

/** One run with every step: its timing, its output (summary and details), how it was resumed. */
export function runPage(run: PlaybookRun) {
  const approval = run.approval && {
    ...run.approval,
    decisionLabel: run.approval.decision ? { approved: "Approved", rejected: "Rejected", expired: "Expired" }[run.approval.decision] : undefined,
    viaWords: run.approval.via ? VIA_WORDS[run.approval.via] : undefined,
  };
  return {
    run: {
      ...runRow(run),
      playbook: run.playbook,
      kind: run.kind,
      mode: run.mode,
      target: run.target,
      since: run.trigger.since,
      incident: run.incident,
      started_at: run.started_at,
      requested: run.requested && { ...run.requested, viaWords: VIA_WORDS[run.requested.via] },
      escalation: run.escalation,
      executions: run.executions,
    },
    approval,
    awaiting: run.state === "awaiting_approval",
    steps: run.steps.map(stepRow),
    fallback: run.fallback.map(stepRow),
  };
}

function stepRow(step: StepRecord) {
  const details = step.details && Object.keys(step.details).length > 0 ? JSON.stringify(step.details, null, 2) : undefined;
  const settings = Object.keys(step.settings).length > 0 ? JSON.stringify(step.settings, null, 2) : undefined;
  return {
    number: step.index + 1,
    label: step.label,
    action: step.action,
    state: step.state,
    stateLabel: { pending: "Not run", started: "Running", succeeded: "Succeeded", failed: "Failed" }[step.state],
    started_at: step.started_at,
    ended_at: step.ended_at,
    took: tookWords(step.took_ms),
    attempts: step.attempts,
    retried: step.attempts > 1,
    summary: step.summary,
    details,
    settings,
    resumed: step.resumed === "checked" ? "checked after an interruption" : step.resumed === "repeated" ? "run again after an interruption" : undefined,
    deferred: step.deferred,
  };
}

function guardsOf(view: PlaybookView): string {
  const g = view.config.guards;
  return `cooldown ${formatDuration(g.cooldownMs)}, at most ${g.maxRuns} ${g.maxRuns === 1 ? "run" : "runs"} per ${formatDuration(g.perMs)}${g.holdInMaintenance ? ", held in maintenance" : ""}${g.oncePerEpisode ? ", once per episode" : ""}`;
}
