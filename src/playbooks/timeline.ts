import { describeError, type Logger } from "../core/index.ts";
import {
  appendUpdate,
  IncidentConflict,
  isUnresolved,
  listOf,
  openIncident,
  publicText,
  resolveIncident,
  type Author,
  type Incident,
  type IncidentStatus,
  type StatusContext,
  type WordingConfig,
} from "../status/index.ts";
import type { PlaybookRun } from "./model.ts";
import { sleep } from "./steps/common.ts";

/** Timeline entries of playbook runs are written as Pulseboard's, naming the playbook. */
export function authorOf(run: PlaybookRun): Author {
  return { kind: "automatic", name: `Pulseboard playbook ${run.playbook}`.slice(0, 100) };
}

/**
 * The incident a run reports to: the one it already has; for a restore, the
 * recovery's; else the open automatic incident (a run fired by a component
 * or probe waits up to `waitMs` for the pipeline to open it, rather than
 * opening a second incident for the same outage); else one the run opens
 * itself (keyed by the run, so a resumed run finds it rather than opening
 * another). Dry runs report to none: their record is the run alone.
 */
export async function incidentFor(status: StatusContext, run: PlaybookRun, waitMs: number, signal: AbortSignal, wording: WordingConfig): Promise<{ incident?: Incident; opened: boolean }> {
  if (run.mode === "dry-run") return { opened: false };
  if (run.incident) return { incident: await status.store.incident(run.incident), opened: run.opened_incident ?? false };
  const deadline = Date.now() + (run.kind === "recovery" && run.inputs.trigger.kind !== "stat" ? waitMs : 0);
  for (;;) {
    const automatic = await status.store.automaticIncidentId();
    const active = automatic ? await status.store.incident(automatic) : undefined;
    if (active && isUnresolved(active)) return { incident: active, opened: false };
    if (Date.now() >= deadline) break;
    await sleep(250, signal);
  }
  // What it acts for, by name: the public reads neither the playbook's id nor its trigger.
  const concerned = concernedOf(run);
  const names = concerned.map((c) => wording.components.find((k) => k.id === c.id)?.name ?? c.id);
  const { incident } = await openIncident(status, {
    key: `playbook-run:${run.id}`,
    name: names.length > 0 ? `Disruption of ${listOf(names)}` : "Service disruption",
    status: "identified",
    body: publicText(wording, "identified", concerned),
    detail: `Pulseboard is running an automatic recovery (${run.name}). Trigger: ${run.trigger.description}.`,
    automatic: false,
    author: authorOf(run),
  });
  return { incident, opened: true };
}

/** What a run's entry tells the public: that a fix is being applied (`identified`), or that it worked (`monitoring`). */
export interface RunAnnouncement {
  phase: "identified" | "monitoring";
  wording: WordingConfig;
}

/** The incident statuses each announcement moves on from; it never moves an incident back. */
const ADVANCES_FROM: Record<RunAnnouncement["phase"], readonly IncidentStatus[]> = {
  identified: ["investigating"],
  monitoring: ["investigating", "identified"],
};

/**
 * Appends a timeline entry for a run, keyed so a retried or resumed step
 * writes it once. The entry is on-call only (its body names nodes, probes
 * and steps), unless it moves the incident on (`announce`): then the public
 * reads the phase's plain words and on-call engineers the same detail. A
 * failure to write is logged, never fatal to the run: the repair matters
 * more than its report.
 */
export async function appendRunEntry(status: StatusContext, run: PlaybookRun, key: string, body: string, log: Logger, announce?: RunAnnouncement): Promise<void> {
  if (!run.incident || run.mode === "dry-run") return;
  try {
    for (let attempt = 1; ; attempt++) {
      const incident = announce ? await status.store.incident(run.incident) : undefined;
      const moves = announce && incident && ADVANCES_FROM[announce.phase].includes(incident.status);
      const affected = Object.entries(incident?.components ?? {}).map(([id, s]) => ({ id, status: announce?.phase === "monitoring" ? ("operational" as const) : s }));
      const entry = moves ? { status: announce.phase, body: publicText(announce.wording, announce.phase, affected), detail: body } : { body, internal: true };
      try {
        // Whether it moves the incident on rests on the status just read: written meanwhile (the incident worker's
        // own "monitoring"), decide again rather than announce twice.
        await appendUpdate(status, { id: run.incident, key: `playbook:${run.id}:${key}`, ...entry, author: authorOf(run), ...(incident ? { as_of_revision: incident.revision } : {}) });
        return;
      } catch (err) {
        if (!(err instanceof IncidentConflict) || attempt >= 5) throw err;
      }
    }
  } catch (err) {
    log.warn({ run: run.id, incident: run.incident, err: describeError(err) }, "cannot append the run's timeline entry");
  }
}

/** How a decision was made, in words (an approve link's holder is not known: the link is its own authorization). */
const DECIDED_VIA: Record<string, (by: string) => string> = { api: (by) => `by ${by} through the admin API`, console: (by) => `by ${by} in the console`, link: () => "through an approve link" };

/**
 * Credits the person who approved or rejected a run on the on-call
 * timeline of `incident` (the run's, or the open one it would report to),
 * as that person, keyed by the run so it is written once. An approval is
 * written when the run begins (the incident may open only then); a
 * rejection when it is made. Logged, never fatal, like every run entry.
 */
export async function appendDecisionEntry(status: StatusContext, run: PlaybookRun, incident: string, log: Logger): Promise<void> {
  const approval = run.approval;
  if (!approval?.by || (approval.decision !== "approved" && approval.decision !== "rejected")) return;
  const how = DECIDED_VIA[approval.via ?? ""]?.(approval.by) ?? `by ${approval.by}`;
  const what = approval.decision === "approved" ? `it runs now: ${run.steps.map((s) => s.label).join(", then ")}` : "nothing was done";
  const body = `Automatic recovery (${run.name}) ${approval.decision} ${how}; ${what}.`;
  try {
    await appendUpdate(status, { id: incident, key: `playbook:${run.id}:decision`, body, internal: true, author: { kind: "person", name: approval.by.slice(0, 100) } });
  } catch (err) {
    log.warn({ run: run.id, incident, err: describeError(err) }, "cannot credit the run's decision on the timeline");
  }
}

/** Resolves the incident a run opened itself, once the run succeeded. */
export async function resolveRunIncident(status: StatusContext, run: PlaybookRun, body: string, log: Logger, wording: WordingConfig): Promise<void> {
  if (!run.incident || !run.opened_incident) return;
  try {
    await resolveIncident(status, { id: run.incident, key: `playbook:${run.id}:resolved`, body: publicText(wording, "resolved", concernedOf(run)), detail: body, author: authorOf(run) });
  } catch (err) {
    log.warn({ run: run.id, incident: run.incident, err: describeError(err) }, "cannot resolve the run's incident");
  }
}

/** The playbook's components, as the public wording of an incident the run opened names them. */
function concernedOf(run: PlaybookRun): { id: string; status: "operational" }[] {
  return run.inputs.components.map((id) => ({ id, status: "operational" }));
}
