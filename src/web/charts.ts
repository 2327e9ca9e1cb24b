import type { LatencyPoint } from "../status/index.ts";

const WIDTH = 600;
const HEIGHT = 140;
const PAD = { left: 44, right: 8, top: 10, bottom: 22 };

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
 * A response-time chart as an SVG string: p50 as a line over a p95 band,
 * failed periods marked along the bottom. Only numbers and the caller's
 * already-escaped label go into it.
 */
export function latencyChartSvg(points: LatencyPoint[], label: string, axis: { start: string; end: string }): string {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const top = niceCeiling(Math.max(1, ...points.map((p) => p.p95 ?? p.p50 ?? 0)));
  const x = (i: number) => PAD.left + (points.length <= 1 ? plotW : (i / (points.length - 1)) * plotW);
  const y = (ms: number) => PAD.top + plotH - (Math.min(ms, top) / top) * plotH;
  const line = segments(points, (p) => p.p50).map((run) => `<polyline class="chart-p50" points="${run.map((i) => `${f(x(i))},${f(y(points[i]!.p50!))}`).join(" ")}"/>`);
  const band = segments(points, (p) => p.p95).map((run) => {
    const upper = run.map((i) => `${f(x(i))},${f(y(points[i]!.p95!))}`);
    const lower = [...run].reverse().map((i) => `${f(x(i))},${f(y(points[i]!.p50 ?? 0))}`);
    return `<polygon class="chart-band" points="${[...upper, ...lower].join(" ")}"/>`;
  });
  const failures = points.flatMap((p, i) => (p.failures > 0 ? [`<rect class="chart-failure" x="${f(x(i) - 2)}" y="${HEIGHT - PAD.bottom + 2}" width="4" height="4"/>`] : []));
  const empty = points.every((p) => p.p50 === null);
  const grid = (empty ? [0] : [0, 0.5, 1]).map((share) => {
    const ms = top * share;
    return `<line class="chart-grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${f(y(ms))}" y2="${f(y(ms))}"/><text class="chart-axis" x="${PAD.left - 6}" y="${f(y(ms) + 4)}" text-anchor="end">${formatMs(ms)}</text>`;
  });
  const note = empty ? `<text class="chart-axis" x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle">No data yet</text>` : "";
  return (
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${label}" focusable="false">` +
    `<title>${label}</title>${grid.join("")}${band.join("")}${line.join("")}${failures.join("")}${note}` +
    `<text class="chart-axis" x="${PAD.left}" y="${HEIGHT - 4}">${axis.start}</text>` +
    `<text class="chart-axis" x="${WIDTH - PAD.right}" y="${HEIGHT - 4}" text-anchor="end">${axis.end}</text></svg>`
  );
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
  return runs.map((run) => (run.length === 1 ? [run[0]!, run[0]!] : run));
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
  return String(Math.round(n));
}
