import { describeError, type Logger } from "../core/index.ts";
import { appendUpdate, isUnresolved, openIncident, resolveIncident, type Author, type Incident, type StatusContext } from "../status/index.ts";
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
export async function incidentFor(status: StatusContext, run: PlaybookRun, waitMs: number, signal: AbortSignal): Promise<{ incident?: Incident; opened: boolean }> {
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
  const { incident } = await openIncident(status, {
    key: `playbook-run:${run.id}`,
    name: run.kind === "restore" ? `${run.name}: restoring` : run.name,
    status: "identified",
    body: `Pulseboard is running an automatic recovery (${run.name}). Trigger: ${run.trigger.description}.`,
    automatic: false,
    author: authorOf(run),
  });
  return { incident, opened: true };
}

/**
 * Appends a timeline entry for a run, keyed so a retried or resumed step
 * writes it once. A failure to write is logged, never fatal to the run: the
 * repair matters more than its report.
 */
export async function appendRunEntry(status: StatusContext, run: PlaybookRun, key: string, body: string, log: Logger): Promise<void> {
  if (!run.incident || run.mode === "dry-run") return;
  try {
    await appendUpdate(status, { id: run.incident, key: `playbook:${run.id}:${key}`, body, author: authorOf(run) });
  } catch (err) {
    log.warn({ run: run.id, incident: run.incident, err: describeError(err) }, "cannot append the run's timeline entry");
  }
}

/** Resolves the incident a run opened itself, once the run succeeded. */
export async function resolveRunIncident(status: StatusContext, run: PlaybookRun, body: string, log: Logger): Promise<void> {
  if (!run.incident || !run.opened_incident) return;
  try {
    await resolveIncident(status, { id: run.incident, key: `playbook:${run.id}:resolved`, body, author: authorOf(run) });
  } catch (err) {
    log.warn({ run: run.id, incident: run.incident, err: describeError(err) }, "cannot resolve the run's incident");
  }
}
