/**
 * The three measurements, each run against a set of servers (ours or
 * Socket.IO) by fresh client-load processes: hold many connections, fan-out
 * at a fixed publish rate, and (ours only) resume under churn.
 */
import WebSocket from "ws";
import { LoadPool } from "./pool.ts";
import { cpuSeconds, machineCpuSeconds, rssKb, type Processes, type Servers } from "./servers.ts";
import { Histogram, sleep, type ChurnJob, type ChurnResult, type FanoutJob, type FanoutResult, type HoldJob } from "./shared.ts";

export interface Context {
  procs: Processes;
  /** Prints one progress line. */
  log: (line: string) => void;
  /** Fresh loopback source addresses, never handed out before in this run (see `addresses`). */
  addresses: (count: number) => string[];
}

/** Splits `total` into `parts` whole numbers that differ by at most one. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export interface HoldPlan {
  clients: number;
  processes: number;
  /** Connections per second, all load processes together. */
  rate: number;
  holdMs: number;
}

export interface HoldOutcome {
  clients: number;
  held: number;
  /** Connections the servers themselves counted at the end of the hold. */
  serverCount: number;
  failed: number;
  retries: number;
  dropped: number;
  connectS: number;
  rssBeforeKb: number[];
  rssAfterKb: number[];
  /** (RSS while holding − RSS before) ÷ connections held, in KiB. */
  kbPerConnection: number;
}

/**
 * Connects `clients` clients spread evenly over the servers (each subscribed
 * to one of 100 channels), holds them for `holdMs` (longer than a heartbeat
 * round, so a server that loses them to its own pings shows it), and reads
 * every server process's RSS before and while holding.
 */
export async function holdPhase(ctx: Context, label: string, servers: Servers, plan: HoldPlan): Promise<HoldOutcome> {
  const pids = await servers.pids();
  await sleep(1_000);
  const rssBeforeKb = rssKb(pids);
  const counts = split(plan.clients, plan.processes);
  const jobs: HoldJob[] = counts.map((count, w) => ({
    kind: "hold",
    system: servers.system,
    targets: servers.urls,
    count,
    rate: plan.rate / plan.processes,
    maxPending: 200,
    // At most 5,000 sockets per source address: far from the ~28,000 ephemeral ports each has.
    localAddresses: ctx.addresses(Math.max(1, Math.ceil(count / 5_000))),
    channels: 100,
    prefix: "hold.",
    offset: counts.slice(0, w).reduce((a, b) => a + b, 0),
  }));
  ctx.log(`${label}: connecting ${plan.clients.toLocaleString("en")} clients to ${servers.urls.length} server process(es) from ${plan.processes} load processes at ${plan.rate}/s`);
  const started = Date.now();
  const pool = new LoadPool(ctx.procs, jobs);
  try {
    await pool.settled((plan.clients / plan.rate) * 4 * 1000 + 60_000, () => {
      const t = pool.total();
      const seconds = (Date.now() - started) / 1000;
      ctx.log(`${label}:   held ${t.held.toLocaleString("en")} failed ${t.failed} retries ${t.retries} (${Math.round(t.held / seconds)}/s) server RSS ${mb(sum(rssKb(pids)))}`);
    });
    const total = pool.total();
    // From each load process's first connect to its last client held: their own start-up is not the server's doing.
    const connectS = total.slowestSettleMs / 1000;
    ctx.log(`${label}: ${total.held.toLocaleString("en")} held after ${connectS.toFixed(1)} s (failed ${total.failed}, retries ${total.retries}); holding ${plan.holdMs / 1000} s`);
    const holdUntil = Date.now() + plan.holdMs;
    while (Date.now() < holdUntil) {
      await sleep(Math.min(5_000, holdUntil - Date.now()));
      ctx.log(`${label}:   holding: ${pool.total().held.toLocaleString("en")} open, server RSS ${mb(sum(rssKb(pids)))}`);
    }
    const rssAfterKb = rssKb(pids);
    const end = pool.total();
    const serverCount = await servers.connections().catch(() => Number.NaN);
    const outcome: HoldOutcome = {
      clients: plan.clients,
      held: end.held,
      serverCount,
      failed: end.failed,
      retries: end.retries,
      dropped: end.dropped,
      connectS,
      rssBeforeKb,
      rssAfterKb,
      kbPerConnection: end.held > 0 ? (sum(rssAfterKb) - sum(rssBeforeKb)) / end.held : Number.NaN,
    };
    ctx.log(
      `${label}: held ${end.held.toLocaleString("en")} (server says ${serverCount.toLocaleString("en")}, dropped ${end.dropped}); RSS ${mb(sum(rssBeforeKb))} → ${mb(sum(rssAfterKb))} = ${outcome.kbPerConnection.toFixed(1)} KiB per connection`,
    );
    return outcome;
  } finally {
    await pool.close();
  }
}

export interface FanoutPlan {
  subscribers: number;
  processes: number;
  channels: number;
  publishers: number;
  /** Publishes per second per publisher. */
  rate: number;
  window: number;
  payloadBytes: number;
  connectRate: number;
  warmupMs: number;
  measureMs: number;
}

export interface FanoutOutcome {
  deliveriesPerS: number;
  publishesPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** Deliveries received ÷ (acknowledged publishes × subscribers of their channel). */
  delivered: number;
  publishErrors: number;
  skipped: number;
  droppedSubscribers: number;
  /** CPU used during the window, in cores: the server processes, their Redis, the load processes, and everything else on the machine (other work sharing it: noise). */
  cpu: { servers: number; redis: number; load: number; other: number };
}

/**
 * A few thousand subscribers on a handful of channels, spread over every
 * server process; publishers on other processes send at a fixed rate with a
 * bounded window of unacknowledged publishes. Counts the deliveries the load
 * processes receive per second in the window and times each one from the
 * publisher's send time carried in the message.
 */
export async function fanoutPhase(ctx: Context, label: string, servers: Servers, plan: FanoutPlan, run: number, redisPid: number): Promise<FanoutOutcome> {
  const channels = Array.from({ length: plan.channels }, (_, k) => `fan.${run}.${k}`);
  const subscribers = split(plan.subscribers, plan.processes);
  const publishers = split(plan.publishers, plan.processes);
  const jobs: FanoutJob[] = subscribers.map((count, w) => ({
    kind: "fanout",
    system: servers.system,
    targets: servers.urls,
    subscribers: count,
    publishers: publishers[w]!,
    channels,
    rate: plan.rate,
    window: plan.window,
    payloadBytes: plan.payloadBytes,
    connectRate: plan.connectRate / plan.processes,
    localAddresses: ctx.addresses(1),
    offset: w,
  }));
  const pool = new LoadPool(ctx.procs, jobs);
  try {
    await pool.settled(60_000, () => ctx.log(`${label}:   subscribed ${pool.total().held}`));
    const groups = { servers: await servers.pids(), redis: [redisPid], load: pool.pids };
    const cpuNow = () => ({ machine: machineCpuSeconds(), ...Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, sum(pids.map(cpuSeconds))])) }) as Record<string, number>;
    const publishFrom = Date.now() + 500;
    const measureFrom = publishFrom + plan.warmupMs;
    const measureTo = measureFrom + plan.measureMs;
    ctx.log(
      `${label}: ${pool.total().held} subscribers on ${plan.channels} channels; ${plan.publishers} publishers × ${plan.rate}/s (window ${plan.window}) for ${(plan.warmupMs + plan.measureMs) / 1000} s`,
    );
    pool.broadcast({ type: "go", schedule: { publishFrom, measureFrom, measureTo, publishTo: measureTo } });
    await sleep(measureFrom - Date.now());
    const cpuFrom = cpuNow();
    await sleep(measureTo - Date.now());
    const cpuTo = cpuNow();
    const cores = (k: string): number => (cpuTo[k]! - cpuFrom[k]!) / (plan.measureMs / 1000);
    const cpu = { servers: cores("servers"), redis: cores("redis"), load: cores("load"), other: 0 };
    cpu.other = Math.max(0, cores("machine") - cpu.servers - cpu.redis - cpu.load);
    const results = await pool.collect<FanoutResult>(40_000);
    const latency = new Histogram();
    let deliveries = 0;
    let received = 0;
    let expected = 0;
    const acked: Record<string, number> = {};
    const subs: Record<string, number> = {};
    for (const r of results) {
      deliveries += r.deliveries;
      received += r.received;
      latency.merge(r.latency);
      for (const [c, n] of Object.entries(r.acked)) acked[c] = (acked[c] ?? 0) + n;
      for (const [c, n] of Object.entries(r.subscribers)) subs[c] = (subs[c] ?? 0) + n;
    }
    for (const c of channels) expected += (acked[c] ?? 0) * (subs[c] ?? 0);
    const published = Object.values(acked).reduce((a, b) => a + b, 0);
    const outcome: FanoutOutcome = {
      deliveriesPerS: deliveries / (plan.measureMs / 1000),
      publishesPerS: published / ((plan.warmupMs + plan.measureMs) / 1000),
      p50Ms: latency.quantile(0.5),
      p99Ms: latency.quantile(0.99),
      delivered: expected > 0 ? received / expected : Number.NaN,
      publishErrors: sum(results.map((r) => r.publishErrors)),
      skipped: sum(results.map((r) => r.skipped)),
      droppedSubscribers: pool.total().dropped,
      cpu,
    };
    ctx.log(
      `${label}: ${Math.round(outcome.deliveriesPerS).toLocaleString("en")} deliveries/s, ${Math.round(outcome.publishesPerS)} publishes/s, p50 ${outcome.p50Ms.toFixed(1)} ms, p99 ${outcome.p99Ms.toFixed(1)} ms, ` +
        `delivered ${(outcome.delivered * 100).toFixed(2)}%, publish errors ${outcome.publishErrors}, dropped subscribers ${outcome.droppedSubscribers}; ` +
        `CPU cores: servers ${cpu.servers.toFixed(2)}, redis ${cpu.redis.toFixed(2)}, clients ${cpu.load.toFixed(2)}, other ${cpu.other.toFixed(2)}`,
    );
    return outcome;
  } finally {
    await pool.close();
  }
}

export interface ChurnPlan {
  clients: number;
  processes: number;
  channels: number;
  /** Publishes per second on each channel. */
  rate: number;
  window: number;
  upMs: [number, number];
  downMs: [number, number];
  connectRate: number;
  churnMs: number;
}

export type ChurnOutcome = ChurnResult & { recoveredShare: number };

/**
 * Our gateway only: subscribers keep dropping (half abruptly, half with a
 * clean close) and resuming on the next node with `since` = the last serial
 * they saw, while publishers keep publishing. Afterwards each client's
 * record is checked against the channel's last serial: every message after
 * the one it first subscribed at, exactly once, in order.
 */
export async function churnPhase(ctx: Context, label: string, fleet: Servers, plan: ChurnPlan, run: number): Promise<ChurnOutcome> {
  const channels = Array.from({ length: plan.channels }, (_, k) => `churn.${run}.${k}`);
  const clients = split(plan.clients, plan.processes);
  const jobs: ChurnJob[] = clients.map((count, w) => ({
    kind: "churn",
    nodes: fleet.urls,
    clients: count,
    channels,
    publishOn: channels.filter((_, k) => k % plan.processes === w),
    rate: plan.rate,
    window: plan.window,
    upMs: plan.upMs,
    downMs: plan.downMs,
    connectRate: plan.connectRate / plan.processes,
    localAddresses: ctx.addresses(2),
    offset: clients.slice(0, w).reduce((a, b) => a + b, 0),
  }));
  const pool = new LoadPool(ctx.procs, jobs);
  try {
    await pool.settled(60_000, () => ctx.log(`${label}:   subscribed ${pool.total().held}`));
    const publishFrom = Date.now() + 300;
    const measureFrom = publishFrom + 1_000;
    const measureTo = measureFrom + plan.churnMs;
    const publishTo = measureTo + 1_000;
    ctx.log(`${label}: ${pool.total().held} clients on ${plan.channels} channels, ${plan.rate}/s per channel; churning for ${plan.churnMs / 1000} s`);
    pool.broadcast({ type: "go", schedule: { publishFrom, measureFrom, measureTo, publishTo } });
    await sleep(publishTo + 1_500 - Date.now());
    const tops = await readTops(fleet.urls[0]!, channels);
    pool.broadcast({ type: "finish", tops });
    const results = await pool.collect<ChurnResult>(40_000);
    const total = Object.fromEntries(Object.keys(results[0]!).map((key) => [key, sum(results.map((r) => r[key as keyof ChurnResult]))])) as unknown as ChurnResult;
    const outcome: ChurnOutcome = { ...total, recoveredShare: total.resumes > 0 ? total.recovered / total.resumes : Number.NaN };
    ctx.log(
      `${label}: ${total.resumes} resumes (${(outcome.recoveredShare * 100).toFixed(1)}% recovered), lost ${total.lost}, duplicated ${total.duplicated}, out of order ${total.outOfOrder}, ` +
        `stale ${total.stale}, epoch changes ${total.epochChanges}, behind ${total.behind}, reconnect failures ${total.reconnectFailures}, received ${total.received.toLocaleString("en")}, published ${total.published}`,
    );
    return outcome;
  } finally {
    await pool.close();
  }
}

/** Each channel's last serial, as a fresh subscriber is told it. */
async function readTops(url: string, channels: string[]): Promise<Record<string, string>> {
  const ws = new WebSocket(url);
  const tops: Record<string, string> = {};
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no subscribed replies within 10 s")), 10_000);
      ws.on("message", (raw) => {
        const frame = JSON.parse(raw.toString()) as { type: string; channel: string; serial: string };
        if (frame.type === "subscribed") tops[frame.channel] = frame.serial;
        if (Object.keys(tops).length === channels.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      for (const channel of channels) ws.send(JSON.stringify({ type: "subscribe", channel }));
    });
    return tops;
  } finally {
    ws.terminate();
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function mb(kb: number): string {
  return `${(kb / 1024).toFixed(0)} MiB`;
}
