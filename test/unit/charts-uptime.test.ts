import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ComponentConfig } from "../../src/config/index.ts";
import { overallUptime, type LatencyPoint, type StatusSummary, type UptimeDay } from "../../src/status/index.ts";
import { fitLatency, last24hByMinute, last7d, type RollupAnswer } from "../../src/status/rollups.ts";
import { foldUptime, uptimeWindow } from "../../src/status/uptime.ts";
import { axisStartLabel, latencyChartHtml } from "../../src/web/charts.ts";
import type { PageData } from "../../src/web/page-data.ts";
import { componentGroups, uptimeText } from "../../src/web/page-views.ts";

const MIN = 60_000;
const DAY = 86_400_000;
/** 12:07:30 UTC: a few minutes into the first day of a new install. */
const NOW = Date.UTC(2026, 11, 2, 12, 7, 30);

/** The minute-rollup hash a result at `at` with `ms` latency lands in (bucket 9 is 30-50 ms). */
function minuteAnswers(at: number[], plan = last24hByMinute(NOW)): RollupAnswer[] {
  const days = [...new Set([Math.floor(plan.from / DAY), Math.floor(NOW / DAY)])];
  return days.map((day, index) => {
    const hash: Record<string, string> = {};
    for (const t of at.filter((t) => Math.floor(t / DAY) === day)) {
      const field = Math.floor((t - day * DAY) / MIN);
      hash[`${field}:n`] = String(Number(hash[`${field}:n`] ?? 0) + 1);
      hash[`${field}:b9`] = String(Number(hash[`${field}:b9`] ?? 0) + 1);
    }
    return { index, hash };
  });
}

function polylinePoints(html: string): number {
  return [...html.matchAll(/<polyline class="chart-p50" points="([^"]+)"/g)].reduce((n, m) => n + m[1]!.split(" ").length, 0);
}

describe("response-time charts draw what data there is", () => {
  it("a few minutes of results become 1-minute points from the first result to now, not one 15-minute point", () => {
    const samples = [NOW - 4 * MIN, NOW - 3 * MIN, NOW - 2 * MIN, NOW - MIN, NOW - 5_000];
    const points = fitLatency(last24hByMinute(NOW), minuteAnswers(samples), NOW, [1, 5, 15], 96);
    assert.equal(points.length, 5, "minutes 12:03 to 12:07");
    assert.equal(points[0]!.at, "2026-12-02T12:03:00.000Z", "the chart starts at the first result");
    assert.ok(points.every((p) => p.count === 1 && p.p50 !== null));
    const html = latencyChartHtml(points, "Chat", { start: "2 Dec, 12:03", end: "now" });
    assert.equal(polylinePoints(html), 5, "one line through all five points");
    const xs = [...html.matchAll(/<polyline class="chart-p50" points="([^"]+)"/g)][0]![1]!.split(" ").map((p) => Number(p.split(",")[0]));
    assert.ok(xs.at(-1)! - xs[0]! >= 0.75 * 600, `the line spans most of the width (${xs[0]}..${xs.at(-1)})`);
  });

  it("a whole day of results still gives 96 quarter-hour points", () => {
    const samples = Array.from({ length: 24 * 60 }, (_, i) => NOW - i * MIN);
    const points = fitLatency(last24hByMinute(NOW), minuteAnswers(samples), NOW, [1, 5, 15], 96);
    assert.equal(points.length, 96);
    assert.equal(points[0]!.count + points[1]!.count > 0, true);
    assert.equal(points.reduce((n, p) => n + p.count, 0), 24 * 60 - 7, "every result inside the 24-hour window is counted once");
  });

  it("two hours of results: 5-minute points (the finest that fits in 96)", () => {
    const samples = Array.from({ length: 120 }, (_, i) => NOW - i * MIN);
    const points = fitLatency(last24hByMinute(NOW), minuteAnswers(samples), NOW, [1, 5, 15], 96);
    assert.ok(points.length <= 96 && points.length >= 24, `${points.length} points`);
    assert.equal(Date.parse(points[1]!.at) - Date.parse(points[0]!.at), 5 * MIN);
  });

  it("one result: a visible dot and a short segment, not a polyline of one point", () => {
    const points = fitLatency(last24hByMinute(NOW), minuteAnswers([NOW - 5_000]), NOW, [1, 5, 15], 96);
    assert.equal(points.length, 1);
    const html = latencyChartHtml(points, "Chat", { start: "12:07", end: "now" });
    assert.match(html, /<path class="chart-dot" d="M300,\d+(\.\d)?h0"\/>/, "a round dot in the middle");
    const segment = /<path class="chart-p50" d="M([\d.]+),[\d.]+h([\d.]+)"/.exec(html);
    assert.ok(segment && Number(segment[2]) >= 30 && Number(segment[2]) <= 90, `a short horizontal segment a person can see (${segment?.[2]})`);
    assert.doesNotMatch(html, /<polyline/, "no one-point polyline (it draws nothing)");
  });

  it("an hourly 7-day chart with minutes of data has one point (a dot) at the hour of the first result", () => {
    const plan = last7d(NOW);
    const block = Math.floor(Math.floor(NOW / DAY) / 32);
    const field = (Math.floor(NOW / DAY) - block * 32) * 24 + 12;
    const points = fitLatency(plan, [{ index: plan.keys({ hourRollup: () => "k" } as never, "p", "l").length - 1, hash: { [`${field}:n`]: "3", [`${field}:b9`]: "3" } }], NOW, [1], plan.points);
    assert.equal(points.length, 1);
    assert.equal(points[0]!.at, "2026-12-02T12:00:00.000Z");
    assert.match(latencyChartHtml(points, "Chat", { start: "12:00", end: "now" }), /chart-dot/);
  });

  it("no results at all: the whole range, empty, saying so", () => {
    const points = fitLatency(last24hByMinute(NOW), minuteAnswers([]), NOW, [1, 5, 15], 96);
    assert.equal(points.length, 96);
    const html = latencyChartHtml(points, "Chat", { start: "24 h ago", end: "now" });
    assert.match(html, /No data yet/);
    assert.doesNotMatch(html, /chart-p50|chart-dot/);
  });

  it("the time axis names where the data starts, or the full range when it covers it", () => {
    const format = (iso: string) => iso.slice(11, 16);
    const short: LatencyPoint[] = [{ at: new Date(NOW - 4 * MIN).toISOString(), count: 1, failures: 0, degraded: 0, p50: 5, p95: 5, p99: 5 }];
    assert.equal(axisStartLabel(short, DAY, NOW, "24 h ago", format), "12:03");
    const full: LatencyPoint[] = [{ ...short[0]!, at: new Date(NOW - DAY + 5 * MIN).toISOString() }];
    assert.equal(axisStartLabel(full, DAY, NOW, "24 h ago", format), "24 h ago");
  });

  it("axis labels are HTML text (sized by CSS in pixels), not SVG text that shrinks with the chart", () => {
    const points = fitLatency(last24hByMinute(NOW), minuteAnswers([NOW - 2 * MIN, NOW - MIN]), NOW, [1, 5, 15], 96);
    const html = latencyChartHtml(points, "Chat", { start: "12:05", end: "now" });
    assert.doesNotMatch(html, /<text/);
    assert.equal([...html.matchAll(/<span class="chart-axis[^"]*">/g)].length, 5, "three values and two times");
  });
});

function day(date: string, ms: UptimeDay["ms"]): UptimeDay {
  const statuses = Object.keys(ms) as (keyof UptimeDay["ms"])[];
  return { date, ms, worst: statuses.length ? statuses[0]! : null, uptime: null };
}

describe("uptime is computed over the time that has data", () => {
  const window = uptimeWindow(NOW, 90);

  it("a few minutes of fully-up history are 100 %, with 89 days of no data", () => {
    const days = foldUptime(window, [], { status: "operational", since: NOW - 5 * MIN }, NOW);
    assert.equal(days.length, 90);
    assert.equal(days.filter((d) => d.worst === null).length, 89);
    assert.equal(days.at(-1)!.ms.operational, 5 * MIN);
    assert.equal(overallUptime(days), 1);
    assert.equal(uptimeText(days), "100%");
  });

  it("an open major outage counts up to now: 1 minute down after 4 up is 80 %", () => {
    const hashes = [{ [`${Math.floor(NOW / DAY)}:operational`]: String(4 * MIN) }];
    const days = foldUptime(window, hashes, { status: "major_outage", since: NOW - MIN }, NOW);
    assert.equal(days.at(-1)!.worst, "major_outage");
    assert.equal(overallUptime(days), 0.8);
    assert.equal(uptimeText(days), "80.00%");
  });

  it("a partial outage counts 30 %; maintenance is left out; days without data weigh nothing", () => {
    const days = [day("2026-11-30", {}), day("2026-12-01", { operational: 9 * MIN, under_maintenance: 60 * MIN }), day("2026-12-02", { partial_outage: MIN })];
    assert.equal(overallUptime(days), 0.97);
  });

  it("any outage, however short, is never shown as 100 %", () => {
    const days = foldUptime(window, [{ [`${Math.floor(NOW / DAY) - 80}:operational`]: String(80 * DAY) }], { status: "major_outage", since: NOW - 200 }, NOW);
    assert.ok(days.at(-1)!.uptime! < 1, `today ${days.at(-1)!.uptime}`);
    assert.notEqual(uptimeText(days), "100%");
    assert.equal(uptimeText(days), "99.99%");
  });

  it("the page: days without data are 'nodata' cells that say No data; the figure says since when", () => {
    const days = foldUptime(window, [], { status: "operational", since: NOW - 5 * MIN }, NOW);
    const config: ComponentConfig = { id: "chat", name: "Chat", only_show_if_degraded: false, showcase: true };
    const summary = { components: [{ config, position: 1, status: "operational" }], recent: [] } as unknown as StatusSummary;
    const data = { summary, maintenances: [], history: { uptime: { chat: days }, charts: [], read_at: "" } } as PageData;
    const [row] = componentGroups(data, (d) => (d.worst ? `${d.date}, ${d.worst}` : d.date), NOW)[0]!.components;
    assert.equal(row!.uptime, "100%");
    assert.equal(row!.uptimeSince, "2026-12-02");
    const empty = row!.cells.filter((c) => c.status === "nodata");
    assert.equal(empty.length, 89);
    assert.equal(empty[0]!.tip, "2026-09-04: No data");
    assert.equal(row!.cells.at(-1)!.status, "operational");
    assert.match(row!.cells.at(-1)!.tip, /^2026-12-02, operational: 100% uptime$/);
  });
});
