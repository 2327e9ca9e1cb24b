import type { LatencyPoint } from "../status/index.ts";

/** The plot's own coordinates: it stretches to its box, and a unit of height is a CSS pixel (see .chart-plot). */
const WIDTH = 600;
const HEIGHT = 120;

export interface ChartSummary {
  /** Median of the period's p50 points, ms. */
  median: number | null;
  /** Highest p95 of the period, ms. */
  p95: number | null;
  /** Share of runs that failed, 0..1. */
  failures: number;
}

/** Numbers printed beside a chart, so the chart is never the only way to read them. */
export function summarize(points: LatencyPoint[]): ChartSummary {
  const p50s = points.flatMap((p) => (p.p50 === null ? [] : [p.p50])).sort((a, b) => a - b);
  const p95s = points.flatMap((p) => (p.p95 === null ? [] : [p.p95]));
  const runs = points.reduce((n, p) => n + p.count, 0);
  const failed = points.reduce((n, p) => n + p.failures, 0);
  return {
    median: p50s.length ? p50s[Math.floor(p50s.length / 2)]! : null,
    p95: p95s.length ? Math.max(...p95s) : null,
    failures: runs ? failed / runs : 0,
  };
}

/**
 * A response-time chart as HTML: p50 as a line over a p95 band, failed
 * periods marked along the bottom, in an SVG that stretches to the width it
 * gets; the axis labels are HTML text beside it, so they keep their size on
 * any screen. A period with data between periods without is a dot, never an
 * invisible one-point line. Only numbers and the caller's already-escaped
 * texts go into it.
 */
export function latencyChartHtml(points: LatencyPoint[], label: string, axis: { start: string; end: string }): string {
  const top = niceCeiling(Math.max(1, ...points.map((p) => p.p95 ?? p.p50 ?? 0)));
  const slot = WIDTH / Math.max(1, points.length);
  // Each point sits in the middle of its period, so the axis spans the periods shown.
  const x = (i: number) => (i + 0.5) * slot;
  const y = (ms: number) => HEIGHT - (Math.min(ms, top) / top) * HEIGHT;
  const xy = (i: number, ms: number) => `${f(x(i))},${f(y(ms))}`;
  // A lone point gets a short flat stroke either side of its dot, not its whole period.
  const half = Math.min(slot / 4, 30);
  const line = segments(points, (p) => p.p50).map((run) =>
    run.length === 1
      ? `<path class="chart-p50" d="M${f(x(run[0]!) - half)},${f(y(points[run[0]!]!.p50!))}h${f(2 * half)}"/><path class="chart-dot" d="M${xy(run[0]!, points[run[0]!]!.p50!)}h0"/>`
      : `<polyline class="chart-p50" points="${run.map((i) => xy(i, points[i]!.p50!)).join(" ")}"/>`,
  );
  const band = segments(points, (p) => p.p95).map((run) => {
    const wide = run.length === 1 ? [-half, half] : [0];
    const upper = run.flatMap((i) => wide.map((dx) => `${f(x(i) + dx)},${f(y(points[i]!.p95!))}`));
    const lower = [...run].reverse().flatMap((i) => [...wide].reverse().map((dx) => `${f(x(i) + dx)},${f(y(points[i]!.p50 ?? 0))}`));
    return `<polygon class="chart-band" points="${[...upper, ...lower].join(" ")}"/>`;
  });
  const failures = points.flatMap((p, i) => (p.failures > 0 ? [`<path class="chart-failure" d="M${f(x(i))},${HEIGHT}v-4"/>`] : []));
  const empty = points.every((p) => p.p50 === null);
  const ticks = empty ? [0] : [1, 0.5, 0];
  const grid = ticks.map((share) => `<path class="chart-grid" d="M0,${f(y(top * share))}H${WIDTH}"/>`);
  const yLabels = ticks.map((share) => `<span class="chart-axis chart-tick-${share * 100}">${formatMs(top * share)}</span>`);
  const note = empty ? `<span class="chart-axis chart-empty">No data yet</span>` : "";
  return (
    `<div class="chart" role="img" aria-label="${label}">` +
    `<div class="chart-y" aria-hidden="true">${yLabels.join("")}</div>` +
    `<div class="chart-area"><svg class="chart-plot" viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" focusable="false" aria-hidden="true">` +
    `${grid.join("")}${band.join("")}${line.join("")}${failures.join("")}</svg>${note}</div>` +
    `<div class="chart-x" aria-hidden="true"><span class="chart-axis">${axis.start}</span><span class="chart-axis">${axis.end}</span></div></div>`
  );
}

/**
 * What the left end of a chart's time axis says: `full` ("24 h ago") when the
 * points cover the whole range, else when the first point starts (the chart
 * then covers only the time with data).
 */
export function axisStartLabel(points: LatencyPoint[], rangeMs: number, now: number, full: string, format: (iso: string) => string): string {
  const first = points[0];
  if (!first) return full;
  const slack = rangeMs / 96;
  return Date.parse(first.at) <= now - rangeMs + slack ? full : format(first.at);
}

/** Runs of consecutive indexes where `value` is known, so gaps in data are gaps in the line. */
function segments(points: LatencyPoint[], value: (p: LatencyPoint) => number | null): number[][] {
  const runs: number[][] = [];
  let current: number[] = [];
  points.forEach((p, i) => {
    if (value(p) === null) {
      if (current.length) runs.push(current);
      current = [];
    } else current.push(i);
  });
  if (current.length) runs.push(current);
  return runs;
}

function niceCeiling(ms: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(ms));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= ms) return step * magnitude;
  return 10 * magnitude;
}

export function formatMs(ms: number): string {
  if (ms >= 1_000) return `${Number((ms / 1_000).toFixed(ms >= 10_000 ? 0 : 1))} s`;
  return ms < 10 && !Number.isInteger(ms) ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function f(n: number): string {
  return String(Math.round(n * 10) / 10);
}
