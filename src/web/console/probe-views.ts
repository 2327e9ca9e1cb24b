import Handlebars from "handlebars";
import type { Config, ResolvedProbe } from "../../config/index.ts";
import type { ProbeResult } from "../../probe-runtime/index.ts";
import type { LatencyPoint } from "../../status/index.ts";
import { axisStartLabel, formatMs, latencyChartHtml, summarize } from "../charts.ts";
import type { LocationSummary, ProbeSummary } from "../probe-reads.ts";

/**
 * View models of the console's probes and locations pages: plain data the
 * views print (every text through `{{…}}`, which escapes it). The charts are
 * the status page's own (charts.ts), built from numbers and escaped words.
 */

/** A probe's state at a location, in words, with the status colour it takes on the page. */
const PROBE_STATES: Record<string, { label: string; tone: string }> = {
  up: { label: "Up", tone: "operational" },
  degraded: { label: "Degraded", tone: "degraded_performance" },
  down: { label: "Down", tone: "major_outage" },
};
const NO_STATE = { label: "No state yet", tone: "unknown" };
const RESULT_WORDS: Record<ProbeResult["status"], string> = { ok: "OK", degraded: "Degraded", failed: "Failed" };
const LOCATION_STATES: Record<LocationSummary["state"], { label: string; tone: string; help: string }> = {
  local: { label: "Local agent", tone: "operational", help: "Its agent reads the probe queues of the control plane directly." },
  reporting: { label: "Reporting", tone: "operational", help: "Its remote agent pushes results." },
  silent: { label: "Silent", tone: "major_outage", help: "Its remote agent stopped pushing: left out of quorum, never an outage on the public page." },
  "never seen": { label: "Never seen", tone: "unknown", help: "No agent has pushed for it yet." },
};
/** How many recent results a probe's page lists, across its locations. */
export const RECENT_SHOWN = 20;

/** "every 30 s", "every 5 min". */
export function every(ms: number): string {
  if (ms % 3_600_000 === 0) return `every ${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `every ${ms / 60_000} min`;
  return `every ${formatMs(ms)}`;
}

/** One result as a row prints it: words, latency, time, the phase that failed and the error. */
export function resultView(result: ProbeResult) {
  const phases = Object.entries(result.phases ?? {}).map(([name, ms]) => `${name} ${formatMs(ms)}`);
  return {
    id: result.id,
    location: result.location,
    status: result.status,
    words: RESULT_WORDS[result.status] ?? result.status,
    tone: result.status === "ok" ? "operational" : result.status === "degraded" ? "degraded_performance" : "major_outage",
    latency: formatMs(result.latency_ms),
    at: result.finished_at,
    phases: phases.join(" · "),
    failedPhase: result.failed_phase,
    error: result.error,
  };
}

/** A probe as the list and its page head show it. */
export function probeRow(summary: ProbeSummary, config: Config) {
  const names = new Map(config.locations.map((l) => [l.id, l.name]));
  return {
    id: summary.id,
    name: summary.name,
    kind: summary.kind,
    every: every(summary.interval_ms),
    timeout: formatMs(summary.timeout_ms),
    components: summary.components.map((id) => config.components.find((c) => c.id === id)?.name ?? id),
    enabled: summary.enabled,
    paused: summary.paused,
    locations: summary.locations.map((l) => ({
      id: l.location,
      name: names.get(l.location) ?? l.location,
      state: l.state ? PROBE_STATES[l.state] ?? NO_STATE : NO_STATE,
      result: l.last_result ? resultView(l.last_result) : undefined,
    })),
  };
}

/** A location as the probes list and the locations page show it. */
export function locationRow(location: LocationSummary) {
  const state = LOCATION_STATES[location.state] ?? LOCATION_STATES["never seen"];
  return {
    ...location,
    stateLabel: state.label,
    tone: location.flag ? "partial_outage" : state.tone,
    stateHelp: state.help,
    skew: location.clock_skew_ms === null ? undefined : `${location.clock_skew_ms >= 0 ? "+" : "−"}${formatMs(Math.abs(location.clock_skew_ms))}`,
    silentAfter: location.silent_after_ms === null ? undefined : formatMs(location.silent_after_ms),
  };
}

/** Where run-now can send a probe: its locations whose agent reads our queues (a remote one runs on its own clock). */
export function runLocations(probe: ResolvedProbe, config: Config) {
  if (probe.kind === "heartbeat") return [];
  return probe.locations.flatMap((id) => {
    const location = config.locations.find((l) => l.id === id);
    return location && !location.remote ? [{ id, name: location.name }] : [];
  });
}

/** The 24-hour and 7-day response-time charts of one probe, as the status page draws them. */
export function chartViews(name: string, day: LatencyPoint[], week: LatencyPoint[], timeZone: string, now = Date.now()) {
  const short = new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone });
  const esc = Handlebars.escapeExpression;
  return ([["day", day, 86_400_000, "24 hours", "24 h ago"], ["week", week, 7 * 86_400_000, "7 days", "7 d ago"]] as const).map(([range, points, rangeMs, words, full]) => {
    const summary = summarize(points);
    const start = axisStartLabel(points, rangeMs, now, full, (iso) => short.format(new Date(iso)));
    return {
      range,
      heading: `Last ${words}`,
      median: summary.median === null ? "–" : formatMs(summary.median),
      p95: summary.p95 === null ? "–" : formatMs(summary.p95),
      failed: `${(summary.failures * 100).toFixed(summary.failures > 0 && summary.failures < 0.01 ? 2 : 1)}%`,
      runs: points.reduce((n, p) => n + p.count, 0),
      // Numbers and escaped words only (see latencyChartHtml), so it may go into the page as it is.
      chart: new Handlebars.SafeString(latencyChartHtml(points, esc(`Response time of ${name} over the last ${words}`), { start: esc(start), end: "now" })),
    };
  });
}

/** The latest results across a probe's locations, newest first. */
export function recentRows(perLocation: ProbeResult[][], names: Map<string, string>) {
  return perLocation
    .flat()
    .sort((a, b) => b.finished_at.localeCompare(a.finished_at))
    .slice(0, RECENT_SHOWN)
    .map((r) => ({ ...resultView(r), locationName: names.get(r.location) ?? r.location }));
}
