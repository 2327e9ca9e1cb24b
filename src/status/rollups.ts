import type { ChainableCommander } from "ioredis";
import type { ProbeResult } from "../probe-runtime/index.ts";
import { LATENCY_BOUNDS_MS, bucketOf, percentile } from "./histogram.ts";
import type { Keys } from "./keys.ts";
import { BLOCK_DAYS, DAY_MS, HOUR_MS, MINUTE_MS, blockEnd, blockOf, epochDay } from "./time.ts";

/** How long rollups are kept after the period they cover ends. */
export const ROLLUP_RETENTION = { minuteMs: 3 * DAY_MS, hourMs: 8 * DAY_MS } as const;

/**
 * Adds one result to its minute and hour rollups (count, failures, degraded,
 * latency histogram of the runs that got an answer) in the caller's
 * transaction, and registers the keys with the retention job.
 */
export function stageRollups(tx: ChainableCommander, keys: Keys, result: ProbeResult): void {
  const at = Date.parse(result.finished_at);
  const day = epochDay(at);
  const block = blockOf(day);
  const minuteKey = keys.minuteRollup(result.probe, result.location, day);
  const hourKey = keys.hourRollup(result.probe, result.location, block);
  const minuteField = String(Math.floor((at - day * DAY_MS) / MINUTE_MS));
  const hourField = String((day - block * BLOCK_DAYS) * 24 + Math.floor((at - day * DAY_MS) / HOUR_MS));
  for (const [key, field] of [[minuteKey, minuteField], [hourKey, hourField]] as const) {
    tx.hincrby(key, `${field}:n`, 1);
    if (result.status === "failed") tx.hincrby(key, `${field}:f`, 1);
    else tx.hincrby(key, `${field}:b${bucketOf(result.latency_ms)}`, 1);
    if (result.status === "degraded") tx.hincrby(key, `${field}:d`, 1);
  }
  tx.zadd(keys.retention, "NX", (day + 1) * DAY_MS + ROLLUP_RETENTION.minuteMs, minuteKey);
  tx.zadd(keys.retention, "NX", blockEnd(block) + ROLLUP_RETENTION.hourMs, hourKey);
}

/** One point of a latency chart. */
export interface LatencyPoint {
  /** Start of the period (ISO 8601). */
  at: string;
  count: number;
  failures: number;
  degraded: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

interface Bin {
  n: number;
  f: number;
  d: number;
  buckets: number[];
}

/** The keys and field parsing of one chart range. */
export interface RangePlan {
  /** Keys to read for one probe at one location. */
  keys(keys: Keys, probe: string, location: string): string[];
  /** The period start (ms) of a field's bin in the key at `index` of keys(). */
  periodOf(index: number, field: number): number;
  /** First period start and period length of the chart. */
  from: number;
  stepMs: number;
  points: number;
}

/** The last 24 hours in `stepMinutes` points, from minute rollups (two keys per location). */
export function last24h(now: number, stepMinutes = 15): RangePlan {
  const stepMs = stepMinutes * MINUTE_MS;
  const end = Math.floor(now / stepMs) * stepMs + stepMs;
  const from = end - DAY_MS;
  const days = [epochDay(from), epochDay(now)];
  return {
    keys: (keys, probe, location) => [...new Set(days)].map((d) => keys.minuteRollup(probe, location, d)),
    periodOf: (index, field) => [...new Set(days)][index]! * DAY_MS + field * MINUTE_MS,
    from,
    stepMs,
    points: DAY_MS / stepMs,
  };
}

/** The last 7 days in hourly points, from hour rollups (one or two keys per location). */
export function last7d(now: number): RangePlan {
  const end = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
  const from = end - 7 * DAY_MS;
  const blocks = [...new Set([blockOf(epochDay(from)), blockOf(epochDay(now))])];
  return {
    keys: (keys, probe, location) => blocks.map((b) => keys.hourRollup(probe, location, b)),
    periodOf: (index, field) => blocks[index]! * BLOCK_DAYS * DAY_MS + field * HOUR_MS,
    from,
    stepMs: HOUR_MS,
    points: 7 * 24,
  };
}

/** One HGETALL answer of a plan's key: `index` is the key's place in `plan.keys()`. */
export type RollupAnswer = { index: number; hash: Record<string, string> };

/** Folds the HGETALL answers of a plan's keys (any number of locations) into chart points. */
export function foldLatency(plan: RangePlan, answers: RollupAnswer[]): LatencyPoint[] {
  return foldBins(plan, answers).map((bin, i) => pointOf(plan.from + i * plan.stepMs, bin));
}

/**
 * The last 24 hours in 1-minute bins (start aligned to a quarter hour), for
 * {@link fitLatency} to group into 1-, 5- or 15-minute points.
 */
export function last24hByMinute(now: number): RangePlan {
  const quarter = 15 * MINUTE_MS;
  const end = Math.floor(now / quarter) * quarter + quarter;
  return { ...last24h(now, 15), from: end - DAY_MS, stepMs: MINUTE_MS, points: DAY_MS / MINUTE_MS };
}

/**
 * Chart points that cover only the time with data: from the first period with
 * a result up to the period holding `now`, in the finest of `groups` (numbers
 * of plan bins per point, smallest first) that keeps at most `maxPoints`
 * points. A few minutes of history become a few 1-minute points instead of one
 * 15-minute point at the end of an empty day. With no data at all, the whole
 * range in the coarsest grouping (every point empty).
 */
export function fitLatency(plan: RangePlan, answers: RollupAnswer[], now: number, groups: number[], maxPoints: number): LatencyPoint[] {
  const bins = foldBins(plan, answers);
  const last = Math.min(bins.length - 1, Math.floor((now - plan.from) / plan.stepMs));
  const first = bins.findIndex((bin) => bin.n > 0);
  const coarsest = groups[groups.length - 1]!;
  const hasData = first >= 0 && first <= last;
  const size = hasData ? (groups.find((n) => Math.floor(last / n) - Math.floor(first / n) + 1 <= maxPoints) ?? coarsest) : coarsest;
  const start = hasData ? Math.floor(first / size) * size : 0;
  const stop = hasData ? last : bins.length - 1;
  const points: LatencyPoint[] = [];
  for (let at = start; at <= stop; at += size) {
    const group = bins.slice(at, Math.min(at + size, bins.length));
    points.push(pointOf(plan.from + at * plan.stepMs, mergeBins(group)));
  }
  return points;
}

function foldBins(plan: RangePlan, answers: RollupAnswer[]): Bin[] {
  const bins: Bin[] = Array.from({ length: plan.points }, emptyBin);
  for (const { index, hash } of answers) {
    for (const [name, value] of Object.entries(hash)) {
      const [fieldText, kind] = name.split(":") as [string, string];
      const point = Math.floor((plan.periodOf(index, Number(fieldText)) - plan.from) / plan.stepMs);
      const bin = bins[point];
      if (!bin) continue;
      const count = Number(value);
      if (kind === "n") bin.n += count;
      else if (kind === "f") bin.f += count;
      else if (kind === "d") bin.d += count;
      else if (kind.startsWith("b")) bin.buckets[Number(kind.slice(1))]! += count;
    }
  }
  return bins;
}

function emptyBin(): Bin {
  return { n: 0, f: 0, d: 0, buckets: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0) };
}

/** Histograms add up, so a coarser point's percentiles are exact over its bins. */
function mergeBins(group: Bin[]): Bin {
  const out = emptyBin();
  for (const bin of group) {
    out.n += bin.n;
    out.f += bin.f;
    out.d += bin.d;
    bin.buckets.forEach((count, i) => (out.buckets[i]! += count));
  }
  return out;
}

function pointOf(from: number, bin: Bin): LatencyPoint {
  return {
    at: new Date(from).toISOString(),
    count: bin.n,
    failures: bin.f,
    degraded: bin.d,
    p50: percentile(bin.buckets, 50),
    p95: percentile(bin.buckets, 95),
    p99: percentile(bin.buckets, 99),
  };
}
