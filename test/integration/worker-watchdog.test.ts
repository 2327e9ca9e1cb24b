import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { connectRedis, sleep, type Logger } from "../../src/core/index.ts";
import { bullPrefix, QUEUE, readPublishedMetrics, RoleMetrics, startEvaluator, watchConnection, watchWorker, WATCHDOG_EXIT_CODE, type EvaluateJob } from "../../src/pipeline/index.ts";
import { StatusStore } from "../../src/status/index.ts";
import { configFrom } from "../helpers/config.ts";
import { metricValue } from "../helpers/prometheus.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

/** A logger writing JSON lines to memory, to check what was logged. */
function captured(): { log: Logger; lines(): Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const lines = () => chunks.join("").split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log: pino({ level: "debug" }, sink), lines };
}

/** What the web role's /metrics serves of a role process: its published snapshot, merged. */
async function publishedMetrics(metrics: RoleMetrics, redis: TestRedis, prefix: string, log: Logger): Promise<string> {
  metrics.publish(redis.client, prefix, log);
  await metrics.publishOnce();
  return (await readPublishedMetrics(redis.client, prefix)).registry.metrics();
}

/**
 * The worker watchdog on real parts: a real redis-server, real BullMQ
 * workers, and a real TCP proxy in front of Redis that silences the
 * connections it carries the way a vanished server behind a proxy, load
 * balancer or NAT does (the client's socket stays open, no reset, nothing
 * answers). SIGSTOP of redis-server or CLIENT PAUSE would not do: they freeze
 * every client, the producer too, and when they end BullMQ carries on by
 * itself; and a silent blocking connection alone BullMQ 6 resets by itself.
 * What stays stuck is a worker whose command connection went silent: its
 * fetch waits on it forever while `isRunning()` says true.
 */
describe("worker watchdog: a worker that stops taking jobs is noticed and restarted (real redis-server, BullMQ, TCP)", () => {
  let redis: TestRedis;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await redis?.stop();
  });

  async function proxied(): Promise<{ proxy: TcpProxy; connection: Redis }> {
    const proxy = await startTcpProxy(redis.url);
    const connection = connectRedis(proxy.url, { profile: "blocking", name: "watchdog-test", log: pino({ level: "silent" }) });
    cleanups.push(() => proxy.close(), () => connection.disconnect());
    return { proxy, connection };
  }

  it("the worker role's evaluator, wired as the role wires it, takes jobs again by itself after its connections went silent", async (t) => {
    const prefix = uniquePrefix("wd");
    const config = await configFrom(`
redis: { prefix: ${prefix} }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - { id: chat-echo, kind: websocket, interval: 5s, components: [chat], with: { url: "ws://127.0.0.1:9/ws", channel: probe.chat } }
`, { REDIS_URL: redis.url });
    const { proxy, connection } = await proxied();
    const { log, lines } = captured();
    const metrics = new RoleMetrics("worker", { instance: "watchdog-test:1", runtime: false });
    cleanups.push(() => metrics.close());
    const status = { store: new StatusStore(redis.client, prefix), components: config.components };
    const evaluator = startEvaluator({ config, status, connection, log, metrics });
    cleanups.push(() => evaluator.close());
    const queue = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: redis.client, prefix: bullPrefix(prefix) });
    cleanups.push(() => queue.close());
    const result = (n: number) => {
      const at = new Date().toISOString();
      return { result: { id: `r${n}`, probe: "chat-echo", kind: "websocket", location: "local", status: "ok" as const, latency_ms: 12, phases: {}, started_at: at, finished_at: at } };
    };
    await queue.add("result", result(0));
    await waitFor("the first result evaluated", async () => (await queue.getJobCounts("completed")).completed === 1, 10_000);

    // The producer (another process, direct) reaches Redis; the worker's connections go silent.
    assert.ok(proxy.silence() >= 2, "the worker's command and blocking connections (and the watchdog's own) are silenced");
    const silencedAt = Date.now();
    for (let n = 1; n <= 3; n++) await queue.add("result", result(n));
    await waitFor("the results left waiting to be evaluated", async () => (await queue.getJobCounts("completed")).completed === 4, 90_000, 250).catch(async (err: Error) => assert.fail(`${err.message}; counts ${JSON.stringify(await queue.getJobCounts("wait", "active", "completed"))}`));
    const recoveredMs = Date.now() - silencedAt;
    t.diagnostic(`jobs taken again ${recoveredMs} ms after the connections went silent (default timing: 15 s of waiting, then a restart)`);

    const fired = lines().find((l) => l.msg === "worker takes no job while jobs wait; restarting its consumer");
    assert.ok(fired, "the watchdog said why it acted");
    assert.equal(fired.queue, QUEUE.evaluate);
    assert.equal(fired.waiting, 3, "the three results were still waiting when it acted: the worker had been stuck");
    assert.ok((fired.waitedMs as number) >= 15_000 && (fired.quietMs as number) >= 15_000, `it waited its default threshold first: ${JSON.stringify(fired)}`);
    const restarted = lines().find((l) => l.msg === "worker consumer restarted");
    assert.deepEqual(restarted?.repaired, ["its command connection answered nothing: reconnected"]);
    const text = await publishedMetrics(metrics, redis, prefix, log);
    assert.equal(metricValue(text, "pulseboard_worker_watchdog_restarts_total", { queue: QUEUE.evaluate, instance: "watchdog-test:1" }), 1);
  });

  it("never restarts an idle worker, not even one whose connections went silent; the first job that then waits is taken", async (t) => {
    const prefix = uniquePrefix("wd");
    const { proxy, connection } = await proxied();
    const { log, lines } = captured();
    const metrics = new RoleMetrics("worker", { instance: "watchdog-idle:1", runtime: false });
    cleanups.push(() => metrics.close());
    const done: number[] = [];
    const worker = new Worker("idle", async (job) => void done.push(job.data.n as number), { connection, prefix, lockDuration: 1_000 });
    cleanups.push(() => worker.close(true));
    watchWorker(worker, { log, metrics, stuckAfterMs: 2_000, intervalMs: 250, giveUp: () => assert.fail("an idle worker is never given up on") });
    await worker.waitUntilReady();

    proxy.silence();
    await sleep(8_000);
    assert.equal(await restartsOf(metrics, "idle"), 0, "four thresholds with nothing waiting: no restart");
    assert.equal(lines().filter((l) => (l.level as number) >= 40).length, 0, "and no warning");

    const producer = new Queue("idle", { connection: redis.client, prefix });
    cleanups.push(() => producer.close());
    const addedAt = Date.now();
    await producer.add("job", { n: 1 });
    await waitFor("the job that waited taken", () => done.includes(1), 20_000, 50).catch(async (err: Error) => assert.fail(`${err.message}; counts ${JSON.stringify(await producer.getJobCounts("wait", "active", "completed", "delayed", "prioritized"))} running ${worker.isRunning()} live ${proxy.liveConnections()}; logged:\n${lines().map((l) => JSON.stringify(l)).join("\n")}`));
    t.diagnostic(`taken ${Date.now() - addedAt} ms after it was added (threshold 2 s)`);
    assert.equal(await restartsOf(metrics, "idle"), 1, "it was the waiting job that made the watchdog act");
  });

  it("counts a delayed job past its time as waiting: a job scheduler's next run behind a stuck worker is noticed", async (t) => {
    const prefix = uniquePrefix("wd");
    const { proxy, connection } = await proxied();
    const { log, lines } = captured();
    const done: number[] = [];
    const worker = new Worker("scheduled", async () => void done.push(Date.now()), { connection, prefix, lockDuration: 1_000 });
    cleanups.push(() => worker.close(true));
    watchWorker(worker, { log, stuckAfterMs: 2_000, intervalMs: 250, giveUp: () => assert.fail("one restart brings this worker back") });
    await worker.waitUntilReady();

    // Only the worker's fetch moves a due delayed job to wait: behind a stuck worker it stays delayed.
    proxy.silence();
    const producer = new Queue("scheduled", { connection: redis.client, prefix });
    cleanups.push(() => producer.close());
    const addedAt = Date.now();
    await producer.add("run", {}, { delay: 200 });
    await waitFor("the delayed job taken once the watchdog restarted the worker", () => done.length === 1, 40_000, 100).catch(async (err: Error) => assert.fail(`${err.message}; counts ${JSON.stringify(await producer.getJobCounts("wait", "active", "completed", "delayed"))}; logged:\n${lines().map((l) => JSON.stringify(l)).join("\n")}`));
    t.diagnostic(`taken ${done[0]! - addedAt} ms after it was added with a 200 ms delay (counted 10 s past its time, then the 2 s threshold)`);
    const fired = lines().find((l) => l.msg === "worker takes no job while jobs wait; restarting its consumer");
    assert.equal(fired?.waiting, 1, "the overdue delayed job was the one counted");
  });

  it("leaves a worker busy with a long job alone while others wait behind it", async () => {
    const prefix = uniquePrefix("wd");
    const { connection } = await proxied();
    const { log, lines } = captured();
    const metrics = new RoleMetrics("worker", { instance: "watchdog-busy:1", runtime: false });
    cleanups.push(() => metrics.close());
    const done: number[] = [];
    const worker = new Worker(
      "busy",
      async (job) => {
        if (job.data.n === 1) await sleep(6_000);
        done.push(job.data.n as number);
      },
      { connection, prefix, concurrency: 1, lockDuration: 1_000 },
    );
    cleanups.push(() => worker.close(true));
    watchWorker(worker, { log, metrics, stuckAfterMs: 2_000, intervalMs: 250, giveUp: () => assert.fail("a busy worker is never given up on") });
    const producer = new Queue("busy", { connection: redis.client, prefix });
    cleanups.push(() => producer.close());
    for (let n = 1; n <= 3; n++) await producer.add("job", { n });
    await waitFor("all three jobs done", () => done.length === 3, 20_000, 50);
    assert.deepEqual(done, [1, 2, 3]);
    assert.equal(await restartsOf(metrics, "busy"), 0, "two jobs waited three thresholds behind a job that renewed its lock: no restart");
    assert.equal(lines().filter((l) => (l.level as number) >= 40).length, 0);
  });

  it("exits the process with status 75 when restarts do not bring the worker back, so that its supervisor starts it again", async (t) => {
    const prefix = uniquePrefix("wd");
    const child = spawn(process.execPath, ["--import", "tsx", new URL("../helpers/watchdog-worker-child.ts", import.meta.url).pathname], {
      env: { ...process.env, WATCHDOG_CHILD: JSON.stringify({ redisUrl: redis.url, prefix }) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const startedAt = Date.now();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    clearTimeout(timer);
    t.diagnostic(`the child exited with ${code} after ${Date.now() - startedAt} ms`);
    assert.equal(code, WATCHDOG_EXIT_CODE, `exit status; output:\n${output}`);
    const lines = output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.filter((l) => l.msg === "worker takes no job while jobs wait; restarting its consumer").length, 1, "one restart first (maxRestarts: 1)");
    const fatal = lines.find((l) => l.msg === "exiting so that the role is started again");
    assert.match(String(fatal?.reason), /the stuck worker took no job for \d+ s while 1 waited, and 1 restarts did not help/);
  });

  it("refuses a threshold a busy worker could not show life within", async () => {
    const { connection } = await proxied();
    const worker = new Worker("refused", async () => {}, { connection, prefix: uniquePrefix("wd"), autorun: false, lockDuration: 10_000 });
    cleanups.push(() => worker.close(true));
    assert.throws(() => watchWorker(worker, { log: pino({ level: "silent" }), stuckAfterMs: 5_000 }), /stuckAfterMs \(5000 ms\) must be at least two lock renewals of the refused worker \(10000 ms\)/);
  });
});

describe("connection watchdog: a command connection that went silent while ready is reconnected (real redis-server, TCP)", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => redis?.stop());

  it("reconnects the scheduler's kind of connection; left alone, one silenced the same way keeps timing out", async (t) => {
    const proxy = await startTcpProxy(redis.url);
    const silent = pino({ level: "silent" });
    const watched = connectRedis(proxy.url, { profile: "command", name: "watched", log: silent });
    const unwatched = connectRedis(proxy.url, { profile: "command", name: "unwatched", log: silent });
    const { log, lines } = captured();
    const metrics = new RoleMetrics("scheduler", { instance: "watchdog-conn:1", runtime: false });
    const watchdog = watchConnection(watched, { name: "scheduler", log, metrics, silentForMs: 2_000, intervalMs: 250 });
    try {
      await Promise.all([watched.set("k", "v"), unwatched.ping()]);
      assert.equal(proxy.silence(), 2);
      const silencedAt = Date.now();
      await assert.rejects(unwatched.get("k"), /Command timed out/, "silent, yet ioredis calls it ready");
      assert.equal(unwatched.status, "ready");
      await waitFor("the watched connection answering again", async () => (await watched.get("k").catch(() => undefined)) === "v", 20_000, 250);
      t.diagnostic(`answering again ${Date.now() - silencedAt} ms after it went silent (silentForMs 2 s)`);
      await sleep(3_000);
      await assert.rejects(unwatched.ping(), /Command timed out/, "the one left alone is still silent, seconds later");
      assert.equal(unwatched.status, "ready");
      assert.equal(metricValue(await metrics.registry.metrics(), "pulseboard_connection_watchdog_reconnects_total", { connection: "scheduler" }), 1);
      assert.ok(lines().some((l) => l.msg === "redis connection says it is ready but has answered nothing; reconnecting it" && l.connection === "scheduler"));
    } finally {
      watchdog.stop();
      watched.disconnect();
      unwatched.disconnect();
      await proxy.close();
    }
  });
});

async function restartsOf(metrics: RoleMetrics, queue: string): Promise<number | undefined> {
  return metricValue(await metrics.registry.metrics(), "pulseboard_worker_watchdog_restarts_total", { queue });
}
