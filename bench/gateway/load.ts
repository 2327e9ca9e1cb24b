/**
 * A client-load process, forked by run.ts: it gets one job over IPC (hold
 * connections, fan-out, or churn with resume), reports its status every
 * second, and sends its result when the runner says the timed part is over.
 * Load comes from several such processes because one process may not hold
 * 20,000 sockets (the hard open-file limit) and should not be the bottleneck.
 */
import { connect, paced, type Conn, type Payload } from "./clients.ts";
import {
  Histogram,
  nowMs,
  sleep,
  uniform,
  type ChurnJob,
  type ChurnResult,
  type FanoutJob,
  type FanoutResult,
  type FromLoad,
  type HoldJob,
  type LoadStatus,
  type System,
  type ToLoad,
} from "./shared.ts";

const CONNECT_TRIES = 3;

const status: LoadStatus = { held: 0, failed: 0, retries: 0, dropped: 0, settled: false };
const inbox: ToLoad[] = [];
let wake: (() => void) | undefined;

function send(message: FromLoad): void {
  if (process.connected) process.send!(message);
}

/** Resolves with the next runner message of the given type. */
async function next<T extends ToLoad["type"]>(type: T): Promise<Extract<ToLoad, { type: T }>> {
  for (;;) {
    const index = inbox.findIndex((m) => m.type === type);
    if (index >= 0) return inbox.splice(index, 1)[0] as Extract<ToLoad, { type: T }>;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

/** Connects and subscribes one client, retrying a few times; undefined once it gave up. */
async function connectSubscribed(system: System, url: string, localAddress: string, channel: string): Promise<Conn | undefined> {
  for (let tries = 1; ; tries++) {
    let conn: Conn | undefined;
    try {
      conn = await connect(system, url, localAddress);
      await conn.subscribe(channel);
      return conn;
    } catch {
      conn?.close(true);
      if (tries >= CONNECT_TRIES) return undefined;
      status.retries++;
      await sleep(250 * tries);
    }
  }
}

/** Counts a client as held until it closes unasked. */
function hold(conn: Conn): void {
  let open = true;
  status.held++;
  conn.onClose = () => {
    if (!open) return;
    open = false;
    status.held--;
    status.dropped++;
  };
}

async function runHold(job: HoldJob): Promise<void> {
  const conns: Conn[] = [];
  const started = Date.now();
  await paced(job.count, job.rate, job.maxPending, async (i) => {
    const url = job.targets[(job.offset + i) % job.targets.length]!;
    const local = job.localAddresses[i % job.localAddresses.length]!;
    const conn = await connectSubscribed(job.system, url, local, `${job.prefix}${(job.offset + i) % job.channels}`);
    if (!conn) return void status.failed++;
    hold(conn);
    conns.push(conn);
  });
  settle(started);
  await next("close");
}

function settle(started: number): void {
  status.settled = true;
  status.settleMs = Date.now() - started;
  send({ type: "status", status });
}

/**
 * Publishes at `rate` per second from `from` to `to`, with at most `window`
 * publishes unacknowledged: a publish that falls due while the window is
 * full is skipped (and counted), so an overloaded server slows the
 * publishers instead of queueing without bound.
 */
function publishLoop(
  conn: Conn,
  channel: string,
  job: { rate: number; window: number },
  from: number,
  to: number,
  filler: string,
  tally: { acked: Record<string, number>; publishErrors: number; skipped: number },
): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let inflight = 0;
    let stopped = false;
    const tick = (): void => {
      const now = Date.now();
      if (now < from) return;
      if (now >= to) {
        stopped = true;
        clearInterval(timer);
        if (inflight === 0) resolve();
        return;
      }
      const due = Math.floor(((now - from) / 1000) * job.rate) + 1;
      while (sent < due) {
        sent++;
        if (inflight >= job.window) {
          tally.skipped++;
          continue;
        }
        inflight++;
        conn.publish(channel, { t: nowMs(), n: sent, x: filler }).then(
          () => (tally.acked[channel] = (tally.acked[channel] ?? 0) + 1),
          () => tally.publishErrors++,
        ).finally(() => {
          inflight--;
          if (stopped) {
            if (inflight === 0) resolve();
          } else tick();
        });
      }
    };
    const timer = setInterval(tick, 2);
  });
}

async function runFanout(job: FanoutJob): Promise<void> {
  const latency = new Histogram();
  const tally = { acked: {} as Record<string, number>, publishErrors: 0, skipped: 0 };
  const subscribers: Record<string, number> = {};
  let deliveries = 0;
  let received = 0;
  let lastReceived = 0;
  let window = { from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
  const onMessage = (_channel: string, data: Payload): void => {
    const now = nowMs();
    received++;
    lastReceived = now;
    if (now >= window.from && now < window.to) {
      deliveries++;
      latency.record(now - data.t);
    }
  };
  const started = Date.now();
  const conns: Conn[] = [];
  await paced(job.subscribers, job.connectRate, 200, async (i) => {
    const channel = job.channels[(job.offset + i) % job.channels.length]!;
    const url = job.targets[(job.offset + i) % job.targets.length]!;
    const conn = await connectSubscribed(job.system, url, job.localAddresses[i % job.localAddresses.length]!, channel);
    if (!conn) return void status.failed++;
    hold(conn);
    conn.onMessage = onMessage;
    subscribers[channel] = (subscribers[channel] ?? 0) + 1;
    conns.push(conn);
  });
  // Publishers sit on other nodes than the subscribers next to them in order, so most messages cross nodes.
  const publishers = await Promise.all(
    Array.from({ length: job.publishers }, async (_, j) => {
      const url = job.targets[(job.offset + j + 1) % job.targets.length]!;
      const conn = await connect(job.system, url, job.localAddresses[j % job.localAddresses.length]!);
      return { conn, channel: job.channels[(job.offset + j) % job.channels.length]! };
    }),
  );
  settle(started);

  const { schedule } = await next("go");
  window = { from: schedule.measureFrom, to: schedule.measureTo };
  const filler = "x".repeat(job.payloadBytes);
  await Promise.all(publishers.map((p) => publishLoop(p.conn, p.channel, job, schedule.publishFrom, schedule.publishTo, filler, tally)));
  await quiet(() => lastReceived, 15_000);
  const result: FanoutResult = {
    deliveries,
    windowMs: schedule.measureTo - schedule.measureFrom,
    received,
    acked: tally.acked,
    publishErrors: tally.publishErrors,
    skipped: tally.skipped,
    subscribers,
    latency: latency.counts,
  };
  send({ type: "fanout", result });
  await next("close");
}

/** Waits until nothing has arrived for a second (deliveries still queued somewhere drain), at most `maxMs`. */
async function quiet(last: () => number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline && nowMs() - last() < 1_000) await sleep(100);
}

/** One churning subscriber and everything it has seen of its channel. */
interface Tracker {
  index: number;
  channel: string;
  node: number;
  localAddress: string;
  conn?: Conn;
  /** Subscribed once: from then on a lost connection is resumed with `since`. */
  active: boolean;
  resuming: boolean;
  epoch: string;
  /** The serial offset the client first subscribed at: it expects every message after it. */
  first: number;
  max: number;
  seen: Set<number>;
}

async function runChurn(job: ChurnJob): Promise<void> {
  const r: ChurnResult = {
    clients: job.clients,
    resumes: 0,
    recovered: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    stale: 0,
    epochChanges: 0,
    clientsWithLoss: 0,
    behind: 0,
    reconnectFailures: 0,
    received: 0,
    published: 0,
    publishErrors: 0,
  };
  const trackers: Tracker[] = [];
  let churnUntil = 0;

  const record = (t: Tracker, serial: string | undefined): void => {
    r.received++;
    const [epoch, offsetText] = (serial ?? "").split(":");
    const offset = Number(offsetText);
    if (epoch !== t.epoch) r.epochChanges++;
    if (offset <= t.first) r.stale++;
    else if (t.seen.has(offset)) r.duplicated++;
    else {
      if (offset < t.max) r.outOfOrder++;
      t.seen.add(offset);
    }
    t.max = Math.max(t.max, offset);
  };
  // Messages are recorded only from the connection the client currently uses: once it decided to
  // drop one, whatever that socket still brings counts as not received (the resume must bring it).
  const attach = (t: Tracker, conn: Conn): void => {
    t.conn = conn;
    conn.onMessage = (_channel, _data, serial) => {
      if (t.conn === conn) record(t, serial);
    };
    conn.onClose = () => {
      if (t.conn !== conn) return;
      t.conn = undefined;
      if (!t.active) return;
      status.dropped++;
      void resume(t);
    };
  };
  const resume = async (t: Tracker): Promise<void> => {
    if (t.resuming) return;
    t.resuming = true;
    for (let tries = 1; !t.conn; tries++) {
      t.node = (t.node + 1) % job.nodes.length;
      let conn: Conn | undefined;
      try {
        conn = await connect("ours", job.nodes[t.node]!, t.localAddress);
        attach(t, conn);
        const reply = await conn.subscribe(t.channel, `${t.epoch}:${t.max}`);
        r.resumes++;
        if (reply.recovered) r.recovered++;
      } catch {
        r.reconnectFailures++;
        if (t.conn === conn) t.conn = undefined;
        conn?.close(true);
        await sleep(Math.min(100 * tries, 1_000));
      }
    }
    t.resuming = false;
  };
  const churn = async (t: Tracker): Promise<void> => {
    for (;;) {
      await sleep(uniform(job.upMs));
      if (Date.now() >= churnUntil) return;
      const conn = t.conn;
      t.conn = undefined;
      // Half drop the TCP connection, half close cleanly: both must resume the same way.
      conn?.close(Math.random() < 0.5);
      await sleep(uniform(job.downMs));
      await resume(t);
    }
  };

  const started = Date.now();
  await paced(job.clients, job.connectRate, 200, async (i) => {
    const t: Tracker = {
      index: i,
      channel: job.channels[(job.offset + i) % job.channels.length]!,
      node: (job.offset + i) % job.nodes.length,
      localAddress: job.localAddresses[i % job.localAddresses.length]!,
      active: false,
      resuming: false,
      epoch: "",
      first: 0,
      max: 0,
      seen: new Set(),
    };
    for (let tries = 1; ; tries++) {
      try {
        const conn = await connect("ours", job.nodes[t.node]!, t.localAddress);
        attach(t, conn);
        const reply = await conn.subscribe(t.channel);
        [t.epoch, t.first] = parseSerial(reply.serial);
        t.max = t.first;
        t.active = true;
        trackers.push(t);
        status.held++;
        return;
      } catch {
        t.conn?.close(true);
        t.conn = undefined;
        if (tries >= CONNECT_TRIES) return void status.failed++;
        status.retries++;
        await sleep(250);
      }
    }
  });
  const publishers = await Promise.all(
    job.publishOn.map(async (channel, j) => ({ channel, conn: await connect("ours", job.nodes[j % job.nodes.length]!, job.localAddresses[0]!) })),
  );
  settle(started);

  const { schedule } = await next("go");
  churnUntil = schedule.measureTo;
  const tally = { acked: {} as Record<string, number>, publishErrors: 0, skipped: 0 };
  await sleep(Math.max(0, schedule.measureFrom - Date.now()));
  await Promise.all([
    ...publishers.map((p) => publishLoop(p.conn, p.channel, job, schedule.publishFrom, schedule.publishTo, "", tally)),
    ...trackers.map((t) => churn(t)),
  ]);
  r.published = Object.values(tally.acked).reduce((a, b) => a + b, 0);
  r.publishErrors = tally.publishErrors;

  const { tops } = await next("finish");
  const topOf = (t: Tracker): number => parseSerial(tops[t.channel])[1];
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && trackers.some((t) => t.max < topOf(t) || !t.conn)) await sleep(100);
  for (const t of trackers) {
    const top = topOf(t);
    if (t.max < top) r.behind++;
    let lost = 0;
    for (let offset = t.first + 1; offset <= top; offset++) if (!t.seen.has(offset)) lost++;
    r.lost += lost;
    if (lost > 0) r.clientsWithLoss++;
  }
  send({ type: "churn", result: r });
  await next("close");
}

function parseSerial(serial: string | undefined): [string, number] {
  const [epoch, offset] = (serial ?? "").split(":");
  return [epoch ?? "", Number(offset ?? Number.NaN)];
}

process.on("message", (message: ToLoad) => {
  // Closing is exiting: the kernel closes every socket at once, which is what the runner wants.
  if (message.type === "close") process.exit(0);
  inbox.push(message);
  wake?.();
});
// Never outlive the runner, whatever happened to it.
process.on("disconnect", () => process.exit(0));
const reporter = setInterval(() => send({ type: "status", status }), 1_000);
reporter.unref();

const { job } = await next("job");
const jobs: Record<typeof job.kind, (job: never) => Promise<void>> = { hold: runHold, fanout: runFanout, churn: runChurn };
jobs[job.kind](job as never).catch((err: unknown) => {
  send({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  setTimeout(() => process.exit(1), 200);
});
// Referenced so the process stays up while it waits for messages even with no socket open.
setInterval(() => {}, 60_000);
