/** What one chaos run saw, for the screen, --json and bench:recovery. */
export interface ChaosSummary {
  scenario: string;
  did: string;
  fault_started_at: string;
  fault_s: number;
  /** Fault → the status page first showed a component not operational. */
  detected_s: number | null;
  /** Fault → every component operational again (after being detected). */
  recovered_s: number | null;
  /** Playbooks whose recovery run succeeded while the fault still held: what repaired it. */
  recovered_by: string[];
  /** Everything recovered, and no playbook's recovery run succeeded while the fault held. */
  recovered_without_playbook: boolean;
  worst: Record<string, string>;
  /** Every change the status page showed, seconds after the fault began. */
  timeline: { at_s: number; component: string; from: string; to: string }[];
  page_reads: number;
  page_availability: number;
  /**
   * Incidents the fault touched: `opened` during the run, `relapsed` (in
   * monitoring after an earlier outage, reopened by this one), or `updated`
   * (open already, and the fault changed it). `opened_s` is negative for one
   * opened before the fault; `at_s` is when the fault first touched it.
   */
  incidents: { id: string; name: string; event: IncidentEvent; opened_s: number; at_s: number }[];
  /** Runs started during the chaos run (never an older one); seconds after the fault began. */
  playbook_runs: { playbook: string; kind: string; state: string; outcome?: string; started_s: number; ended_s: number | null }[];
  /** Runs a guard held back although the trigger fired: which playbook, which guard, until when, for which incident. */
  held_runs: { playbook: string; kind: string; guard: string; reason: string; until: string | null; incident: string | null; at_s: number }[];
  interrupted: boolean;
}

export type IncidentEvent = "opened" | "relapsed" | "updated";

/** An incident as the admin API (every update) or the public API (public updates) gives it. */
export interface IncidentRecord {
  id: string;
  name: string;
  created_at: string;
  updates: { status: string; created_at: string }[];
}

/** A run as the admin API lists it. */
export interface RunRecord {
  playbook: string;
  kind: string;
  state: string;
  outcome?: string;
  created_at?: string;
  ended_at?: string;
  trigger?: { at: string };
}

/** Statuses an automatic incident has while it still looks into a problem. */
const ACTIVE = new Set(["investigating", "identified"]);

/**
 * The incidents the fault touched, oldest first. An incident opened before
 * the fault counts when an update during the run made it active again: from
 * `monitoring` (the pipeline's relapse, a reopening within the quiet period)
 * it `relapsed`; already active, it was `updated`. Its quiet period ending
 * (resolved) or a recovery (monitoring) is not the fault's doing.
 */
export function incidentEvents(incidents: IncidentRecord[], since: number): ChaosSummary["incidents"] {
  const events: ChaosSummary["incidents"] = [];
  for (const incident of incidents) {
    const opened = Date.parse(incident.created_at);
    if (opened >= since - 1_000) {
      events.push({ id: incident.id, name: incident.name, event: "opened", opened_s: seconds(opened - since), at_s: seconds(opened - since) });
      continue;
    }
    const updates = [...incident.updates].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    let status = "investigating";
    let touched: { event: IncidentEvent; at: number } | undefined;
    for (const update of updates) {
      const at = Date.parse(update.created_at);
      if (at >= since && ACTIVE.has(update.status)) {
        if (status === "monitoring") {
          touched = { event: "relapsed", at };
          break;
        }
        touched ??= { event: "updated", at };
      }
      status = update.status;
    }
    if (touched) events.push({ id: incident.id, name: incident.name, event: touched.event, opened_s: seconds(opened - since), at_s: seconds(touched.at - since) });
  }
  return events.sort((a, b) => a.at_s - b.at_s);
}

/** Runs started at or after `since`, oldest first: a run from before the fault is never this run's. */
export function runsDuring(runs: RunRecord[], since: number): ChaosSummary["playbook_runs"] {
  return runs
    .map((r) => ({ r, at: Date.parse(r.trigger?.at ?? r.created_at ?? "") }))
    .filter(({ at }) => at >= since)
    .sort((a, b) => a.at - b.at)
    .map(({ r, at }) => ({
      playbook: r.playbook,
      kind: r.kind,
      state: r.state,
      outcome: r.outcome,
      started_s: seconds(at - since),
      ended_s: r.ended_at ? seconds(Date.parse(r.ended_at) - since) : null,
    }));
}

/**
 * The playbooks that repaired it: a recovery run that succeeded before the
 * fault ended (a scenario ends its fault once the page recovered, or when
 * its duration is up). One that succeeded after the fault had ended by
 * itself repaired nothing of it.
 */
export function repairedBy(runs: ChaosSummary["playbook_runs"], faultS: number): string[] {
  const by = runs.filter((r) => r.kind === "recovery" && r.state === "succeeded" && r.ended_s !== null && r.ended_s <= faultS + 0.5).map((r) => r.playbook);
  return [...new Set(by)];
}

const GUARD_WORDS: Record<string, string> = {
  cooldown: "its cooldown",
  max_runs: "its max runs per window",
  maintenance: "a maintenance window",
  tripped: "its failed last run",
};

/** The summary on the screen: one row per fact, continuation lines indented under the values. */
export function formatSummary(s: ChaosSummary): string {
  const after = (value: number, what = "after the fault began") => `${value.toFixed(1)} s ${what}`;
  const indent = "\n" + " ".repeat(17);
  const rows: [string, string][] = [
    ["scenario", `${s.scenario}${s.interrupted ? " (interrupted)" : ""}`],
    ["what it did", s.did],
    ["fault", `${s.fault_s.toFixed(1)} s from ${s.fault_started_at}`],
    ["detected", s.detected_s === null ? "the status page never showed a problem" : after(s.detected_s)],
    ["recovered", recoveredRow(s)],
    ["status page", `${(s.page_availability * 100).toFixed(1)} % of ${s.page_reads} reads answered`],
    ["worst", Object.entries(s.worst).map(([name, status]) => `${name}: ${words(status)}`).join("; ") || "no components"],
    ["timeline", s.timeline.map((c) => `${c.at_s.toFixed(1).padStart(5)} s  ${c.component}: ${words(c.from)} → ${words(c.to)}`).join(indent) || "no change"],
    ["incidents", s.incidents.map(incidentWords).join(indent) || "none opened or relapsed"],
    ["playbook runs", s.playbook_runs.map((r) => `${r.playbook} ${r.kind} ${r.state}${r.outcome ? `: ${r.outcome}` : ""} (started ${after(r.started_s)})`).join(indent) || "none"],
    ["held back", s.held_runs.map(holdWords).join(indent) || "no run held back"],
  ];
  return `\n${rows.map(([k, v]) => `  ${k.padEnd(14)} ${v}`).join("\n")}\n`;
}

function recoveredRow(s: ChaosSummary): string {
  if (s.recovered_s === null) return s.detected_s === null ? "nothing to recover" : "NOT operational again";
  const at = `${s.recovered_s.toFixed(1)} s after the fault began`;
  if (s.recovered_by.length > 0) return `${at}, repaired by the playbook${s.recovered_by.length > 1 ? "s" : ""} ${s.recovered_by.join(", ")}`;
  return `${at}; recovered without a playbook, once the fault ended (after ${s.fault_s.toFixed(1)} s)`;
}

function incidentWords(i: ChaosSummary["incidents"][number]): string {
  if (i.event === "opened") return `${i.name} (opened ${i.opened_s.toFixed(1)} s after)`;
  const before = `opened ${Math.abs(i.opened_s).toFixed(1)} s before the fault`;
  return `${i.name} (${i.event} ${i.at_s.toFixed(1)} s after; ${before})`;
}

function holdWords(h: ChaosSummary["held_runs"][number]): string {
  const guard = GUARD_WORDS[h.guard] ?? h.guard.replace(/_/g, " ");
  const until = h.until ? ` until ${clock(h.until)}` : h.guard === "tripped" ? " until its trigger clears" : "";
  return `playbook ${h.playbook} ${h.kind === "restore" ? "restore " : ""}held back by ${guard}${until}, ${h.at_s.toFixed(1)} s after the fault began${h.incident ? ` (incident ${h.incident})` : ""}`;
}

/** 12:04:31 UTC, from an ISO time. */
function clock(iso: string): string {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : `${at.toISOString().slice(11, 19)} UTC`;
}

function words(status: string): string {
  return status.replace(/_/g, " ");
}

/** Milliseconds as seconds with one decimal. */
export function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}
