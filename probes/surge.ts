import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import {
  defineProbe,
  durationSetting,
  openClient,
  ProbeFailure,
  realtimeSettings,
  refusalOf,
  runClock,
  untimed,
  type ProbeReport,
  type RealtimeClient,
  type RealtimeSettings,
} from "../src/probe-runtime/index.ts";

const settingsSchema = realtimeSettings("surge", [], {
  /**
   * How many connections to open.
   * @defaultValue 100
   */
  connections: z.int().min(1).max(20_000).default(100),
  /**
   * Connections opened per second during the ramp.
   * @defaultValue 50
   */
  rate: z.number().gt(0).max(10_000).default(50),
  /** How long to keep every connection open once the ramp is done. @defaultValue no hold */
  hold: durationSetting().optional(),
  /** How long one connection may take to be welcomed (its handshake done). @defaultValue "5s", or what the run's timeout leaves */
  connect_within: durationSetting().optional(),
  /**
   * The share of connections that must be welcomed for the run to pass.
   * @defaultValue 0.99
   */
  min_share: z.number().min(0).max(1).default(0.99),
  /**
   * Degraded when the connect-time p99 is over this.
   * @defaultValue "1s"
   */
  p99_over: durationSetting().default(1_000),
});

/** How one connection of the surge ended up. */
type Outcome = { outcome: "welcomed"; ms: number } | { outcome: "refused"; reason: string } | { outcome: "timeout" } | { outcome: "error"; reason: string };

/**
 * A rehearsal of the 5,000-user virtual event: ramps `connections` new
 * connections to the broker (any protocol: a connection counts once its
 * handshake is done) at `rate` per second, holds them, and reports the
 * share that were welcomed and the connect-time p50 and p99. Failed when
 * fewer than `min_share` got in (naming why the rest did not), degraded
 * when p99 is over `p99_over` or connections dropped during the hold. Run
 * it on demand or on a schedule before a big event, with a timeout that
 * fits the ramp. Phases: ramp, hold. Every socket is closed at the end,
 * whether the run passed, failed or hit its deadline.
 */
export default defineProbe({
  kind: "surge",
  description: "Connection surge: ramp N connections at a set rate; share welcomed and connect p50/p99",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const clock = runClock(ctx);
    const url = settings.url ?? ctx.targets.gatewayUrl;
    const hold = settings.hold ?? 0;
    const rampMs = ((settings.connections - 1) / settings.rate) * 1_000;
    const budget = clock.left() - rampMs - hold;
    if (budget < 100) {
      throw new ProbeFailure(
        `a ramp of ${settings.connections} connections at ${settings.rate}/s (${Math.round(rampMs)} ms) plus a ${hold} ms hold does not fit in the probe's ${ctx.timeoutMs} ms timeout: raise timeout or rate, or lower connections`,
      );
    }
    const surge = new Surge(settings, url, Math.min(settings.connect_within ?? 5_000, budget));
    const abort = (): void => surge.closeAll();
    ctx.signal.addEventListener("abort", abort, { once: true });
    try {
      const ramp = await ctx.phase("ramp", async () => tally(await surge.ramp(settings.connections, settings.rate, ctx.signal), settings.min_share));
      if (hold > 0) await ctx.phase("hold", () => sleep(hold, undefined, { signal: ctx.signal }));
      return verdict(ramp, surge.dropped, settings);
    } finally {
      ctx.signal.removeEventListener("abort", abort);
      surge.closeAll();
    }
  },
});

/** The connections of one run: opened on schedule through the probe's adapter, each settled once, all closed together. */
class Surge {
  private readonly clients = new Set<RealtimeClient>();
  private readonly stop = new AbortController();

  constructor(
    private readonly settings: RealtimeSettings,
    private readonly url: string,
    private readonly connectWithin: number,
  ) {}

  /** Opens `count` connections at `rate` per second; resolves when every one is welcomed, refused or out of time. */
  async ramp(count: number, rate: number, signal: AbortSignal): Promise<Outcome[]> {
    const started = performance.now();
    const pending: Promise<Outcome>[] = [];
    while (pending.length < count) {
      const due = Math.min(count, Math.floor(((performance.now() - started) * rate) / 1_000) + 1);
      while (pending.length < due) pending.push(this.connect());
      if (pending.length < count) await sleep(Math.max(1, (pending.length * 1_000) / rate - (performance.now() - started)), undefined, { signal });
    }
    return Promise.all(pending);
  }

  /** Welcomed connections that have closed since. */
  get dropped(): number {
    return [...this.clients].filter((c) => c.failure !== undefined).length;
  }

  /** Closes every connection and settles every one still waiting. */
  closeAll(): void {
    this.stop.abort();
    for (const client of this.clients) client.close();
    this.clients.clear();
  }

  private async connect(): Promise<Outcome> {
    const started = performance.now();
    const signal = AbortSignal.any([this.stop.signal, AbortSignal.timeout(Math.max(1, Math.round(this.connectWithin)))]);
    try {
      const client = await openClient(this.settings, { url: this.url }, { signal, phase: untimed });
      if (this.stop.signal.aborted) client.close();
      else this.clients.add(client);
      return { outcome: "welcomed", ms: performance.now() - started };
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal) return { outcome: "refused", reason: refusal.message };
      if (this.stop.signal.aborted) return { outcome: "error", reason: "aborted at the deadline" };
      if (signal.aborted) return { outcome: "timeout" };
      return { outcome: "error", reason: (err as Error).message };
    }
  }
}

interface Tally {
  count: number;
  welcomed: number;
  share: number;
  p50: number;
  p99: number;
  refused: number;
  timedOut: number;
  errors: number;
  timing: string;
}

/** Counts the ramp's outcomes; fewer welcomed than `minShare` fails the ramp, saying why the rest did not get in. */
function tally(outcomes: Outcome[], minShare: number): Tally {
  const times = outcomes.flatMap((o) => (o.outcome === "welcomed" ? [o.ms] : [])).sort((a, b) => a - b);
  const refused = outcomes.flatMap((o) => (o.outcome === "refused" ? [o.reason] : []));
  const errors = outcomes.flatMap((o) => (o.outcome === "error" ? [o.reason] : []));
  const timedOut = outcomes.filter((o) => o.outcome === "timeout").length;
  const share = times.length / outcomes.length;
  const [p50, p99] = [percentile(times, 0.5), percentile(times, 0.99)];
  const timing = times.length > 0 ? `connect p50 ${p50} ms, p99 ${p99} ms` : "none connected";
  if (share < minShare) {
    const why = [
      refused.length ? `${refused.length} refused (${quote(refused)})` : "",
      timedOut ? `${timedOut} got no welcome in time` : "",
      errors.length ? `${errors.length} failed (${quote(errors)})` : "",
    ].filter(Boolean);
    throw new ProbeFailure(`only ${percent(share)} of ${outcomes.length} connections were welcomed (at least ${percent(minShare)} must be): ${why.join(", ")}; ${timing}`);
  }
  return { count: outcomes.length, welcomed: times.length, share, p50, p99, refused: refused.length, timedOut, errors: errors.length, timing };
}

/** Degraded for a slow tail or connections lost during the hold; ok otherwise. */
function verdict(ramp: Tally, dropped: number, settings: z.output<typeof settingsSchema>): ProbeReport {
  const details = {
    connections: ramp.count,
    rate: settings.rate,
    welcomed: ramp.welcomed,
    share: Math.round(ramp.share * 10_000) / 10_000,
    p50_ms: ramp.p50,
    p99_ms: ramp.p99,
    refused: ramp.refused,
    timed_out: ramp.timedOut,
    errors: ramp.errors,
    dropped,
  };
  const problems = [
    ramp.p99 > settings.p99_over ? `connect p99 ${ramp.p99} ms is over ${settings.p99_over} ms` : "",
    dropped ? `${dropped} connections dropped during the hold` : "",
  ].filter(Boolean);
  if (problems.length > 0) {
    return { status: "degraded", latencyMs: ramp.p99, error: `${problems.join("; ")} (${percent(ramp.share)} of ${ramp.count} welcomed; ${ramp.timing})`, details };
  }
  return { status: "ok", latencyMs: ramp.p99, details };
}

/** Nearest-rank percentile of sorted values, rounded to 0.1 ms; 0 when there are none. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! * 10) / 10;
}

/** The most common reason (retry hints differ only in their numbers), quoted, and how many others there were. */
function quote(reasons: string[]): string {
  const groups = new Map<string, { example: string; count: number }>();
  for (const reason of reasons) {
    const key = reason.replace(/\d+/g, "N");
    const group = groups.get(key) ?? groups.set(key, { example: reason, count: 0 }).get(key)!;
    group.count++;
  }
  const [top] = [...groups.values()].sort((a, b) => b.count - a.count);
  return `"${top!.example}"${groups.size > 1 ? ` and ${groups.size - 1} other reason${groups.size > 2 ? "s" : ""}` : ""}`;
}

function percent(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}
