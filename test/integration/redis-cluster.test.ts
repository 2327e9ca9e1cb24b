import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue, Worker } from "bullmq";
import type { Config } from "../../src/config/index.ts";
import { closeRedis, connectRedis, connectRedisLike, createLogger, isCluster, newId, ReplicaWait, sleep } from "../../src/core/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, QUEUE, startEvaluator, startIncidentWorker, startNotifyWorker, startOutboxDispatcher, type EvaluateJob } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom } from "../helpers/config.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import type { OnCallPost } from "../helpers/incident-stack.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedisCluster, type RedisClusterGroup } from "../helpers/redis-cluster.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { TestClient } from "../helpers/ws-client.ts";
import { waitFor } from "../helpers/wait.ts";

/** Generous: a cluster with cluster-node-timeout 1000 ms fails over in a few seconds. */
const FAILOVER_BOUND_MS = 20_000;

/** Log lines as JSON, through the logger every role uses (with its redaction). */
function capturedLog() {
  const lines: string[] = [];
  return { log: createLogger({ level: "info", pretty: false, destination: { write: (line) => void lines.push(line) } }), lines };
}

/** True when the primary on `port` has a replica in sync: killing it leads to a failover. */
async function hasReplica(cluster: RedisClusterGroup, port: number): Promise<boolean> {
  return /connected_slaves:[1-9]/.test(await cluster.client(port).info("replication").catch(() => ""));
}

/** A name (from `make`) whose slot is on a primary with a replica, so killing that primary fails over. */
async function onFailoverableShard(cluster: RedisClusterGroup, make: () => string, key: (name: string) => string): Promise<string> {
  for (;;) {
    const name = make();
    if (await hasReplica(cluster, await cluster.primaryOf(key(name)))) return name;
  }
}

describe("Redis Cluster (six real redis-server nodes: three primaries, three replicas)", () => {
  let cluster: RedisClusterGroup;

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  it("connects as a Cluster, makes more like it, and says which nodes it cannot reach without the password", async () => {
    const { log, lines } = capturedLog();
    const commands = connectRedis(cluster.target, { profile: "command", name: "cluster-commands", log });
    const blocking = connectRedisLike(commands, { profile: "blocking", name: "cluster-blocking", log });
    const nowhere = connectRedis({ clusterNodes: [{ host: "127.0.0.1", port: cluster.ports[0]! + 50 }] }, { profile: "command", name: "nowhere", log });
    try {
      assert.ok(isCluster(commands) && isCluster(blocking), "a cluster target makes ioredis Clusters");
      assert.equal(blocking.options.redisOptions?.maxRetriesPerRequest, null, "the blocking profile reaches every node's connection");
      // Keys spread over the primaries; each command finds its slot's primary.
      for (let i = 0; i < 30; i++) await commands.set(`spread-${i}`, String(i));
      const holders = new Set(await Promise.all([...Array(30).keys()].map((i) => cluster.primaryOf(`spread-${i}`))));
      assert.equal(holders.size, 3, "the keys landed on all three primaries");
      assert.equal(await blocking.get("spread-7"), "7");
      assert.deepEqual(await blocking.blpop("cluster-empty-list", 0.2), null);
      const said = await waitFor("the unreachable cluster to be named", () => lines.map((l) => JSON.parse(l) as { redis?: string; err?: string; cluster?: string }).find((l) => l.redis === "nowhere" && l.err), 10_000);
      assert.equal(said.err, `no node of the Redis Cluster at 127.0.0.1:${cluster.ports[0]! + 50} answered`);
      assert.equal(said.cluster, `127.0.0.1:${cluster.ports[0]! + 50}`);
      assert.ok(!lines.join("").includes(cluster.password), "no password in a log line");
    } finally {
      await Promise.all([closeRedis(commands), closeRedis(blocking), closeRedis(nowhere)]);
    }
  });

  it("waits for a replica of the slot's primary after an acknowledged write", async () => {
    const commands = connectRedis(cluster.target, { profile: "command", name: "cluster-wait" });
    try {
      const key = "{replica-wait}";
      await commands.set(`${key}:written`, "1");
      assert.equal(await new ReplicaWait(commands, { key }).afterWrite("test write"), "confirmed", "WAIT went down the connection that wrote, to a primary with a replica");
      assert.equal(await new ReplicaWait(commands).afterWrite("test write"), "no replica", "without a key there is nothing to wait on");
    } finally {
      await closeRedis(commands);
    }
  });

  it("two gateway nodes share history and serials, fan out by sharded pub/sub, and carry on after a primary fails over", async (t) => {
    const yaml = "  publish_rate: 100000\n  publish_burst: 100000\n  cache_timeout: 500ms";
    const nodes: TestNode[] = [];
    const clients: TestClient[] = [];
    try {
      nodes.push(await startTestNode({ index: 0, cacheUrl: cluster.target, yaml }), await startTestNode({ index: 1, cacheUrl: cluster.target, yaml }));
      // A channel per primary, and one more on a primary with a replica, to kill.
      const channelKey = (channel: string) => `{${channel}}`;
      const byPrimary = new Map<number, string>();
      for (let i = 0; byPrimary.size < 3; i++) {
        const channel = `room-${i}`;
        const port = await cluster.primaryOf(channelKey(channel));
        if (!byPrimary.has(port)) byPrimary.set(port, channel);
      }
      const doomed = await onFailoverableShard(cluster, () => `doomed-${newId(6)}`, channelKey);
      const channels = [...byPrimary.values(), doomed];

      const subscriber = await TestClient.connect(nodes[1]!.url);
      const publisher = await TestClient.connect(nodes[0]!.url);
      clients.push(subscriber, publisher);
      for (const channel of channels) {
        subscriber.send({ type: "subscribe", channel, id: `sub-${channel}` });
        await subscriber.next((f) => f.type === "subscribed" && f.channel === channel, 5_000);
      }
      // Each live channel is a shard channel on its slot's primary, not a classic one.
      for (const channel of channels) {
        const port = await cluster.primaryOf(channelKey(channel));
        const shardChannels = (await cluster.client(port).call("PUBSUB", "SHARDCHANNELS", `*${channel}*`)) as string[];
        assert.deepEqual(shardChannels, [`pbgw:live:{${channel}}`], `the live channel of ${channel} is sharded on its primary`);
        assert.deepEqual(await cluster.client(port).call("PUBSUB", "CHANNELS", `*${channel}*`), [], "no classic channel");
      }
      const publish = async (channel: string, n: number): Promise<string> => {
        publisher.send({ type: "publish", channel, data: { n }, id: `${channel}-${n}` });
        const ack = await publisher.next((f) => (f.type === "ack" || f.type === "error") && f.id === `${channel}-${n}`, 5_000);
        assert.equal(ack.type, "ack", `publish ${n} on ${channel}: ${JSON.stringify(ack)}`);
        return ack.serial as string;
      };
      for (const channel of channels) for (let n = 1; n <= 3; n++) await publish(channel, n);
      await waitFor("node 1's client to get every message from node 0", () => channels.every((c) => subscriber.frames.filter((f) => f.type === "message" && f.channel === c).length === 3), 5_000);
      for (const channel of channels) assert.deepEqual(subscriber.takeMessages(channel).map((m) => (m.data as { n: number }).n), [1, 2, 3]);

      // History and serials are the cluster's: a late client on node 1 resumes from node 0's serial.
      const firstSerial = await publish(doomed, 4);
      await publish(doomed, 5);
      const late = await TestClient.connect(nodes[1]!.url);
      clients.push(late);
      late.send({ type: "subscribe", channel: doomed, since: firstSerial, id: "late" });
      const resumed = await late.next((f) => f.type === "subscribed", 5_000);
      assert.equal(resumed.recovered, true, "resumed from history");
      await waitFor("the missed message from history", () => late.frames.some((f) => f.type === "message" && (f.data as { n: number }).n === 5), 5_000);

      // Kill the primary of the doomed channel's slot.
      const killedPort = await cluster.primaryOf(channelKey(doomed));
      await cluster.kill(killedPort);
      const killedAt = Date.now();
      const since = () => Date.now() - killedAt;
      const promotedAfter = await cluster.waitForFailover(killedPort, channelKey(doomed), FAILOVER_BOUND_MS).then(since);
      let n = 100;
      const deliveredAfter = await waitFor("a publish on the failed-over shard to reach node 1's client", async () => {
        n++;
        publisher.send({ type: "publish", channel: doomed, data: { n }, id: `${doomed}-${n}` });
        const ack = await publisher.next((f) => (f.type === "ack" || f.type === "error") && f.id === `${doomed}-${n}`, 5_000).catch(() => undefined);
        if (ack?.type !== "ack") return false;
        const got = await subscriber.next((f) => f.type === "message" && f.channel === doomed && (f.data as { n: number }).n === n, 2_000).catch(() => undefined);
        return got !== undefined && since();
      }, FAILOVER_BOUND_MS, 200);
      // The other shards were never away.
      for (const channel of byPrimary.values()) await publish(channel, 200);
      await waitFor("the other shards' messages", () => [...byPrimary.values()].every((c) => subscriber.frames.some((f) => f.type === "message" && f.channel === c && (f.data as { n: number }).n === 200)), 5_000);
      t.diagnostic(`gateway cache: after the SIGKILL of primary 127.0.0.1:${killedPort}, the cluster promoted its replica in ${promotedAfter} ms; a publish on that shard reached the other node's client ${deliveredAfter} ms after the kill`);
    } finally {
      for (const client of clients) client.close();
      for (const node of nodes) await node.node.stop();
    }
  });

  it("the store's scripts, BullMQ, the outbox and live events share one slot and follow a SIGKILLed primary", async (t) => {
    const { log, lines } = capturedLog();
    const oncall = await HttpReceiver.start({ status: 204, body: "" });
    const stops: (() => Promise<unknown>)[] = [];
    try {
      // A prefix on a shard that still has a replica (the gateway test may have used one up).
      const name = await onFailoverableShard(cluster, () => uniquePrefix("cluster"), (p) => `{${p}}`);
      const config: Config = await configFrom(`
redis: { prefix: ${name} }
page: { name: Cluster Status, url: "https://status.cluster.example" }
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
`, cluster.env());
      assert.deepEqual(config.redis.target, cluster.target);
      assert.equal(config.redis.prefix, `{${name}}`);
      const target = config.redis.target!;
      const blocking = connectRedis(target, { profile: "blocking", name: "test-queues", log });
      const commands = connectRedis(target, { profile: "command", name: "test-store", log });
      const events = connectRedis(target, { profile: "command", name: "test-events", log });
      stops.push(() => closeRedis(blocking), () => closeRedis(commands), () => closeRedis(events));
      const prefix = bullPrefix(config.redis.prefix);
      const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix, { log }), components: config.components, publish: config.incidents.publish };
      const evaluator = startEvaluator({ config, status, connection: blocking, log });
      const incidents = startIncidentWorker({ config, status, connection: blocking, log });
      const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
      const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
      const checks = new Queue("cluster-check", { connection: blocking, prefix });
      const processed = new Set<string>();
      const checker = new Worker("cluster-check", async (job) => void processed.add(job.id!), { connection: blocking, prefix });
      checks.on("error", () => {});
      checker.on("error", () => {});
      const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: blocking, prefix });
      evaluate.on("error", () => {});
      stops.push(() => checker.close(), () => checks.close(), () => evaluate.close(), () => evaluator.close(), () => incidents.close(), () => outbox.close(), () => notify.close());
      // The web role's live events: plain pub/sub through the cluster.
      const heard: string[] = [];
      events.on("message", (_channel: string, message: string) => void heard.push(message));
      // Retried: the cluster's subscriber connection goes to a node it picks, which may be the one an earlier test killed.
      await waitFor("the live events' subscription", () => events.subscribe(status.store.keys.events).then(() => true), 15_000, 200);

      let clock = Date.now();
      const round = async (outcome: ProbeStatus): Promise<void> => {
        clock = Math.max(clock + 1_000, Date.now());
        const at = new Date(clock).toISOString();
        const result: ProbeResult = { id: newId(16), probe: "chat-echo", kind: "websocket", location: "local", status: outcome, latency_ms: 12, phases: {}, started_at: at, finished_at: at, error: outcome === "failed" ? "connect: connection refused" : undefined };
        await evaluate.add("result", { result }, { jobId: result.id });
      };
      const posts = () => oncall.requests.map((r) => r.json as OnCallPost);

      await round("failed");
      const opened = await waitFor("the incident's first on-call post", () => posts().find((p) => p.data.update.status === "investigating"), 20_000);
      const incidentId = opened.data.incident.id;
      await waitFor("the store's change event, through the cluster's pub/sub", () => heard.length > 0, 10_000);
      await checks.add("before", {}, { jobId: "before" });
      await waitFor("the job added before the failover", () => processed.has("before"), 10_000);

      // Every control-plane key is in the prefix's slot: on its primary, and nowhere else.
      // Asked of the slot's primary: the first node may be the one the gateway test killed.
      const primary = await cluster.primaryOf(config.redis.prefix);
      const slot = Number(await cluster.client(primary).call("CLUSTER", "KEYSLOT", config.redis.prefix));
      const keys = (await cluster.client(primary).call("CLUSTER", "GETKEYSINSLOT", String(slot), "10000")) as string[];
      assert.ok(keys.some((k) => k.startsWith(`${prefix}:${QUEUE.evaluate}:`)) && keys.some((k) => k.startsWith(`${config.redis.prefix}:incident`)), `queue and store keys in the one slot: ${keys.slice(0, 10).join(", ")}`);
      for (const port of cluster.ports.filter((p) => p !== primary)) {
        const role = ((await cluster.client(port).call("ROLE").catch(() => ["gone"])) as string[])[0];
        if (role !== "master") continue;
        const strays = await cluster.client(port).keys(`*${name}*`);
        assert.deepEqual(strays, [], `no key of the prefix on primary ${port}`);
      }

      await cluster.kill(primary);
      const killedAt = Date.now();
      const since = () => Date.now() - killedAt;
      const [promotedAfter, storeAfter, jobAfter, resolvedAfter] = await Promise.all([
        cluster.waitForFailover(primary, config.redis.prefix, FAILOVER_BOUND_MS).then(since),
        waitFor("a store write and read through the promoted replica", async () => {
          await commands.set(`${config.redis.prefix}:cluster-check`, "after");
          return (await commands.get(`${config.redis.prefix}:cluster-check`)) === "after" && since();
        }, FAILOVER_BOUND_MS, 50),
        (async () => {
          await waitFor("the job added after the kill to be queued", async () => Boolean(await checks.add("after", {}, { jobId: "after" })), FAILOVER_BOUND_MS, 200);
          return waitFor("the job added after the kill to be processed", () => processed.has("after") && since(), FAILOVER_BOUND_MS, 50);
        })(),
        (async () => {
          await waitFor("a result queued after the kill", async () => (await round("ok"), true), FAILOVER_BOUND_MS, 200);
          return waitFor("the resolution's on-call post (through the outbox)", () => posts().some((p) => p.data.update.status === "resolved") && since(), FAILOVER_BOUND_MS, 50);
        })(),
      ]);
      const heardBefore = heard.length;
      // Published until heard: on a busy machine a command may still meet a connection to the dead node (MaxRetriesPerRequestError).
      const eventsAfter = await waitFor("a live event after the failover", async () => {
        if (heard.length > heardBefore) return since();
        await status.store.ping();
        await commands.publish(status.store.keys.events, JSON.stringify({ type: "test" }));
        return false;
      }, 10_000, 100);
      t.diagnostic(`control plane: after the SIGKILL of primary 127.0.0.1:${primary}, the cluster promoted its replica in ${promotedAfter} ms; store writes in ${storeAfter} ms; a new job processed in ${jobAfter} ms; the resolution posted through the outbox in ${resolvedAfter} ms; live events heard in ${eventsAfter} ms`);

      const incident = await status.store.incident(incidentId);
      const updates = incident?.updates.map((u) => u.status) ?? [];
      assert.equal(updates[0], "investigating");
      assert.equal(updates.at(-1), "resolved");
      assert.deepEqual(posts().map((p) => [p.data.incident.id, p.data.update.status]), updates.map((u) => [incidentId, u]), "every timeline entry posted once, in order");
      assert.ok(!lines.join("").includes(cluster.password), "no password in a log line");
    } finally {
      for (const stop of stops.reverse()) await Promise.race([stop().catch(() => {}), sleep(5_000)]);
      await oncall.stop();
    }
  });
});
