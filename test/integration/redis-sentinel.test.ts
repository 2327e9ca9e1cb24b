import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { closeRedis, connectRedis, createLogger, newId, sleep, type RedisTarget } from "../../src/core/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, NotificationControl, ProbeControl, QUEUE, startEvaluator, startIncidentWorker, startNotifyWorker, startOutboxDispatcher, type EvaluateJob } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { createWebApp, SnapshotService } from "../../src/web/index.ts";
import { configFrom } from "../helpers/config.ts";
import type { OnCallPost } from "../helpers/incident-stack.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { startSentinelGroup, type SentinelGroup } from "../helpers/sentinel.ts";
import { waitFor } from "../helpers/wait.ts";

/** The bound: within it the replica is primary and everything uses it. */
const FAILOVER_BOUND_MS = 15_000;

/** Log lines as JSON, through the logger every role uses (with its redaction). */
function capturedLog() {
  const lines: string[] = [];
  return { log: createLogger({ level: "info", pretty: false, destination: { write: (line) => void lines.push(line) } }), lines };
}

describe("Redis Sentinel (a real primary, replica and three Sentinels)", () => {
  let group: SentinelGroup;

  before(async () => {
    group = await startSentinelGroup();
  });
  after(async () => {
    await group?.stop();
  });

  it("says why it cannot connect: no Sentinel answers, or they know no such master", async () => {
    const { log, lines } = capturedLog();
    const nowhere: RedisTarget = { sentinels: [{ host: "127.0.0.1", port: group.dataPorts[0] + 100 }, { host: "127.0.0.1", port: group.dataPorts[0] + 101 }], name: group.name };
    const unknown: RedisTarget = { ...group.target, name: "no-such-master" };
    const connections = [connectRedis(nowhere, { profile: "command", name: "nowhere", log }), connectRedis(unknown, { profile: "command", name: "unknown", log })];
    try {
      const said = (name: string) => lines.map((l) => JSON.parse(l) as { redis?: string; err?: string }).find((l) => l.redis === name && l.err)?.err;
      const ports = nowhere.sentinels.map((s) => `127.0.0.1:${s.port}`).join(",");
      assert.equal(await waitFor("the unreachable Sentinels to be named", () => said("nowhere"), 10_000), `no Sentinel of ${ports} answered`);
      const sentinels = group.target.sentinels.map((s) => `127.0.0.1:${s.port}`).join(",");
      assert.equal(await waitFor("the unknown master to be named", () => said("unknown"), 10_000), `the Sentinels at ${sentinels} know no master named "no-such-master" (the <name> of \`sentinel monitor <name> …\`)`);
      for (const secret of [group.password, group.sentinelPassword]) assert.ok(!lines.join("").includes(secret), "no password in a log line");
    } finally {
      for (const redis of connections) redis.disconnect();
    }
  });

  it("leaves a frozen primary when the Sentinels announce its successor, though its sockets never close", async (t) => {
    const { log } = capturedLog();
    const commands = connectRedis(group.target, { profile: "command", name: "frozen-store", log });
    const blocking = connectRedis(group.target, { profile: "blocking", name: "frozen-queues", log });
    const portOf = async (redis: Redis) => Number(/tcp_port:(\d+)/.exec(await redis.info("server"))?.[1]);
    let frozen: { port: number; resume(): void } | undefined;
    try {
      assert.equal(await portOf(commands), await group.masterPort());
      await portOf(blocking);
      frozen = await group.freezeMaster();
      const frozenAt = Date.now();
      const since = () => Date.now() - frozenAt;
      const moved = (redis: Redis, what: string) =>
        waitFor(`the ${what} connection to write to the promoted replica`, async () => {
          await redis.set("frozen-check", what);
          return (await portOf(redis)) !== frozen!.port && since();
        }, FAILOVER_BOUND_MS, 100);
      const [promotedAfter, commandAfter, blockingAfter] = await Promise.all([group.waitForNewMaster(frozen.port, FAILOVER_BOUND_MS).then(since), moved(commands, "command"), moved(blocking, "blocking")]);
      t.diagnostic(`after the SIGSTOP of 127.0.0.1:${frozen.port}: Sentinels named the replica in ${promotedAfter} ms; a command connection wrote to it in ${commandAfter} ms, a blocking one in ${blockingAfter} ms`);
    } finally {
      frozen?.resume();
      commands.disconnect();
      blocking.disconnect();
    }
    // The thawed primary rejoins as a replica, so the next failover has one to promote.
    await group.waitForReplicas(1, 30_000);
  });

  it("the store, the queues, the outbox and the page follow a SIGKILLed primary to the promoted replica", async (t) => {
    const { log, lines } = capturedLog();
    const oncall = await HttpReceiver.start({ status: 204, body: "" });
    const stops: (() => Promise<unknown>)[] = [];
    try {
      const config: Config = await configFrom(`
redis: { prefix: ${uniquePrefix("sentinel")} }
page: { name: Sentinel Status, url: "https://status.sentinel.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - { id: chat-echo, kind: websocket, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, components: [chat] }
notifications:
  retry_base: 100ms
  retry_max: 500ms
  attempts: 20
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
`, group.env);
      assert.deepEqual(config.redis.target, group.target, "REDIS_SENTINELS and its friends make the control plane's target");
      const target = config.redis.target!;
      // Connections as the worker and web roles make them.
      const blocking = connectRedis(target, { profile: "blocking", name: "test-queues", log });
      const commands = connectRedis(target, { profile: "command", name: "test-store", log });
      const events = connectRedis(target, { profile: "command", name: "test-events", log });
      stops.push(() => closeRedis(blocking), () => closeRedis(commands), () => closeRedis(events));
      const prefix = bullPrefix(config.redis.prefix);
      const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components, publish: config.incidents.publish };
      const evaluator = startEvaluator({ config, status, connection: blocking, log });
      const incidents = startIncidentWorker({ config, status, connection: blocking, log });
      const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
      const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
      // A queue of its own with a worker of its own: a job added after the failover must be processed.
      const checks = new Queue("sentinel-check", { connection: blocking, prefix });
      const processed = new Set<string>();
      const checker = new Worker("sentinel-check", async (job) => void processed.add(job.id!), { connection: blocking, prefix });
      // Connection errors during the failover are expected; BullMQ prints those no one listens to.
      checks.on("error", () => {});
      checker.on("error", () => {});
      // Results go in as agents put them: on a blocking connection, which waits out the failover.
      const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: blocking, prefix });
      evaluate.on("error", () => {});
      stops.push(() => checker.close(), () => checks.close(), () => evaluate.close(), () => evaluator.close(), () => incidents.close(), () => outbox.close(), () => notify.close());

      // The web role's page: its snapshot hears the store's events on a connection of its own.
      const snapshot = SnapshotService.forStore(status, () => config, {
        refreshMs: 500,
        log,
        subscribe: async (onChange) => {
          events.on("message", (_channel: string, message: string) => onChange(message));
          await events.subscribe(status.store.keys.events);
          return async () => void events.removeAllListeners("message");
        },
      });
      await snapshot.start();
      const probes = new ProbeControl({ config: () => config, connection: commands, store: status.store, log });
      const notifications = new NotificationControl({ config: () => config, connection: commands, store: status.store });
      stops.push(() => probes.close(), () => notifications.close());
      const app = createWebApp({ config, status, snapshot, adminTokens: [], ready: () => status.store.ping(), probes, notifications, log });
      const server: Server = await new Promise((resolve) => {
        const s = createServer(app).listen(0, "127.0.0.1", () => resolve(s));
      });
      stops.push(() => snapshot.stop(), () => new Promise((resolve) => server.close(resolve)));
      const page = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      // The page is asked every 100 ms from before the kill until the end.
      const answers: { at: number; status: number | string }[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const at = Date.now();
          const status = await fetch(page, { signal: AbortSignal.timeout(3_000) }).then(async (res) => (await res.arrayBuffer(), res.status), (err: Error) => err.message);
          answers.push({ at, status });
          await sleep(100);
        }
      })();
      stops.push(async () => {
        polling = false;
        await poller;
      });

      let clock = Date.now();
      const round = async (outcome: ProbeStatus): Promise<void> => {
        clock = Math.max(clock + 1_000, Date.now());
        const at = new Date(clock).toISOString();
        const result: ProbeResult = { id: newId(16), probe: "chat-echo", kind: "websocket", location: "local", status: outcome, latency_ms: 12, phases: {}, started_at: at, finished_at: at, error: outcome === "failed" ? "connect: connection refused" : undefined };
        await evaluate.add("result", { result }, { jobId: result.id });
      };
      const posts = () => oncall.requests.map((r) => r.json as OnCallPost);

      // Before: results open an incident and on-call is told.
      await round("failed");
      const opened = await waitFor("the incident's first on-call post", () => posts().find((p) => p.data.update.status === "investigating"), 15_000);
      const incidentId = opened.data.incident.id;
      const notifyQueue = new Queue(QUEUE.notify, { connection: commands, prefix });
      notifyQueue.on("error", () => {});
      stops.push(() => notifyQueue.close());
      await waitFor("the notify queue to settle", async () => {
        const counts = await notifyQueue.getJobCounts("wait", "active", "delayed");
        return (counts.wait ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0;
      }, 10_000);
      await checks.add("before", {}, { jobId: "before" });
      await waitFor("the job added before the failover", () => processed.has("before"), 10_000);
      // What was acknowledged before the kill is on the replica too (Redis replicates asynchronously).
      assert.equal(await commands.wait(1, 2_000), 1, "the replica has every write so far");

      const killed = await group.killMaster();
      const killedAt = Date.now();
      const since = () => Date.now() - killedAt;
      const [promotedAfter, storeAfter, jobAfter, resolvedAfter] = await Promise.all([
        group.waitForNewMaster(killed, FAILOVER_BOUND_MS).then(since),
        waitFor("a store write and read through the promoted replica", async () => {
          await commands.set(`${config.redis.prefix}:sentinel-check`, "after");
          return (await commands.get(`${config.redis.prefix}:sentinel-check`)) === "after" && since();
        }, FAILOVER_BOUND_MS, 50),
        (async () => {
          await checks.add("after", {}, { jobId: "after" });
          return waitFor("the job added after the kill to be processed", () => processed.has("after") && since(), FAILOVER_BOUND_MS, 50);
        })(),
        (async () => {
          await round("ok");
          return waitFor("the resolution's on-call post (through the outbox)", () => posts().some((p) => p.data.update.status === "resolved") && since(), FAILOVER_BOUND_MS, 50);
        })(),
      ]);
      t.diagnostic(`after the SIGKILL of 127.0.0.1:${killed}: Sentinels named the replica in ${promotedAfter} ms; store writes in ${storeAfter} ms; a new job processed in ${jobAfter} ms; the resolution posted through the outbox in ${resolvedAfter} ms`);
      assert.notEqual(await group.masterPort(), killed);

      // Writes before and after are there: the incident opened before the kill and resolved after it.
      const incident = await status.store.incident(incidentId);
      const updates = incident?.updates.map((u) => u.status) ?? [];
      assert.equal(updates[0], "investigating");
      assert.equal(updates.at(-1), "resolved");
      assert.deepEqual(posts().map((p) => [p.data.incident.id, p.data.update.status]), updates.map((u) => [incidentId, u]), "every timeline entry posted once, in order");

      // The page answered 200 throughout, while the snapshot refreshed through the failover.
      await sleep(1_000);
      polling = false;
      await poller;
      const during = answers.filter((a) => a.at >= killedAt);
      t.diagnostic(`the page answered ${answers.length} requests, ${during.length} after the kill`);
      assert.ok(during.length >= 20, `the page was asked through the failover (${during.length} times)`);
      assert.deepEqual(answers.filter((a) => a.status !== 200), [], "every answer of / was a 200");
      const body = await (await fetch(page)).text();
      assert.match(body, /Chat/);

      const logged = lines.join("");
      for (const secret of [group.password, group.sentinelPassword]) assert.ok(!logged.includes(secret), "no password in a log line");
      assert.match(logged, /redis connection restored/);
    } finally {
      // Bounded, so a piece that never recovered fails the test instead of hanging its teardown.
      for (const stop of stops.reverse()) await Promise.race([stop().catch(() => {}), sleep(5_000)]);
      await oncall.stop();
    }
  });
});
