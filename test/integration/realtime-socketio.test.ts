import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { refusalOf, type ConnectionSettings, type PhaseRunner, type RealtimeClient, type ResumableClient } from "../../src/probe-runtime/realtime/index.ts";
import socketIo, { type SocketIoSettings } from "../../src/probe-runtime/realtime/socket-io.ts";
import { startSocketIo, type SocketIoHarness } from "../helpers/brokers/socket-io.ts";
import { activeResources, expectNoLeak } from "../helpers/probes.ts";
import { alive } from "../helpers/processes.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The Socket.IO adapter against the example app (examples/socketio-app)
 * running as real node processes: one node with the in-memory adapter and
 * connection state recovery, two nodes sharing a real Redis through
 * @socket.io/redis-adapter, and one with a connection limit.
 */

/** Phases as a run records them: the names in order, and the first that failed. */
function recorder(): { names: string[]; failed?: string; phase: PhaseRunner } {
  const record: { names: string[]; failed?: string; phase: PhaseRunner } = {
    names: [],
    phase: async (name, work) => {
      record.names.push(name);
      try {
        return await work();
      } catch (err) {
        record.failed ??= name;
        throw err;
      }
    },
  };
  return record;
}

interface OpenOptions {
  token?: string | null;
  socketIo?: Partial<SocketIoSettings>;
  name?: string;
  label?: string;
  signal?: AbortSignal;
  phases?: ReturnType<typeof recorder>;
}

/** Opens a client of the adapter the way a probe kind does; every client opened is closed by `closeAll`. */
function clients(app: () => SocketIoHarness) {
  const opened: RealtimeClient[] = [];
  const controller = new AbortController();
  return {
    async open(url: string, options: OpenOptions = {}): Promise<ResumableClient> {
      const token = options.token === undefined ? app().token : options.token;
      const settings = { protocol: "socket.io", headers: {}, ...(token === null ? {} : { auth: { token } }) } as ConnectionSettings;
      const client = (await socketIo.connect({
        url,
        name: options.name,
        label: options.label,
        settings,
        protocolSettings: socketIo.settingsSchema.parse(options.socketIo ?? {}),
        signal: options.signal ?? controller.signal,
        phase: (options.phases ?? recorder()).phase,
      })) as ResumableClient;
      opened.push(client);
      return client;
    },
    closeAll(): void {
      for (const client of opened.splice(0)) client.close();
    },
  };
}

const texts = (messages: { text: string }[]) => messages.map((m) => m.text);

describe("socket.io adapter: one app node (in-memory adapter, connection state recovery)", { timeout: 30_000 }, () => {
  let app: SocketIoHarness;
  const io = clients(() => app);
  before(async () => (app = await startSocketIo({ nodes: 1, token: "app-token-0123456789" })));
  after(async () => {
    io.closeAll();
    await app?.stop();
  });

  it("leaves no socket or timer behind once its clients close or their signal aborts", async () => {
    const baseline = activeResources();
    const controller = new AbortController();
    const a = await io.open(app.urls[0]!);
    const b = await io.open(app.urls[0]!, { socketIo: { transports: ["polling", "websocket"] } });
    const c = await io.open(app.urls[0]!, { signal: controller.signal });
    await a.subscribe("room-leak");
    await b.publish("room-leak", 1);
    await a.next("room-leak", () => true, 2_000);
    await a.drop();
    controller.abort();
    assert.match(String(c.failure), /aborted at the deadline/);
    const aborting = new AbortController();
    const opening = io.open(app.urls[0]!, { signal: aborting.signal });
    aborting.abort();
    await assert.rejects(opening, /aborted/);
    io.closeAll();
    await expectNoLeak(baseline);
  });

  it("connects in three timed phases, connect, upgrade and handshake, named by the target's label", async () => {
    const phases = recorder();
    const client = await io.open(app.urls[0]!, { name: "node-0", label: "node-0", phases });
    assert.deepEqual(phases.names, ["connect node-0", "upgrade node-0", "handshake node-0"]);
    assert.equal(client.where, `node-0 (${new URL(app.urls[0]!).host})`);
    assert.deepEqual(client.info, { namespace: "/", transport: "websocket" });
    assert.equal(client.failure, undefined);
  });

  it("subscribes, publishes, and delivers to the channel the app names, to this client and another", async () => {
    const subscriber = await io.open(app.urls[0]!);
    const publisher = await io.open(app.urls[0]!.replace("http:", "ws:"));
    await subscriber.subscribe("room-a");
    await subscriber.subscribe("room-b");
    await publisher.subscribe("room-a");
    assert.deepEqual(await publisher.publish("room-a", { seq: 1 }), {});
    await publisher.publish("room-b", "plain text");
    const own = await publisher.next("room-a", () => true, 2_000);
    assert.deepEqual(own?.payload, { seq: 1 });
    const a = await subscriber.next("room-a", () => true, 2_000);
    const b = await subscriber.next("room-b", () => true, 2_000);
    assert.equal(a?.text, '{"seq":1}');
    assert.equal(b?.payload, "plain text");
    await subscriber.flush!(1_000);
    assert.deepEqual(texts(subscriber.takeAll("room-a")), [], "room-b's message is not counted for room-a");
    assert.deepEqual(texts(publisher.takeAll("room-b")), [], "a channel not subscribed to delivers nothing");
  });

  it("works over long-polling first, and without acks (resolving once sent, with no flush)", async () => {
    const polling = await io.open(app.urls[0]!, { socketIo: { transports: ["polling"] } });
    assert.equal(polling.info.transport, "polling");
    const upgrading = await io.open(app.urls[0]!, { socketIo: { transports: ["polling", "websocket"] } });
    await upgrading.subscribe("room-poll");
    const unacked = await io.open(app.urls[0]!, { socketIo: { acks: false } });
    assert.equal(unacked.flush, undefined);
    await polling.subscribe("room-poll");
    await unacked.publish("room-poll", { via: "no ack" });
    assert.deepEqual((await polling.next("room-poll", () => true, 2_000))?.payload, { via: "no ack" });
    assert.deepEqual((await upgrading.next("room-poll", () => true, 2_000))?.payload, { via: "no ack" });
  });

  it("fails a verb the app's ack refuses, quoting its answer", async () => {
    const client = await io.open(app.urls[0]!);
    await assert.rejects(client.subscribe(""), /refused the subscription to : it answered \{"ok":false,"error":"channel must be a non-empty string"\}/);
    await assert.rejects(client.publish("", 1), /refused the publish on : it answered \{"ok":false/);
    assert.equal(client.failure, undefined, "a refused verb leaves the connection usable");
  });

  it("fails the handshake on a wrong token with the app's connect_error, not as full", async () => {
    for (const token of ["wrong-token", null]) {
      const phases = recorder();
      const err = await io.open(app.urls[0]!, { token, phases }).then(
        () => assert.fail("connected with a wrong token"),
        (e: unknown) => e,
      );
      assert.equal(phases.failed, "handshake");
      assert.match(String(err), /127\.0\.0\.1:\d+ refused the Socket\.IO connection: connect_error "invalid token"/);
      assert.deepEqual(refusalOf(err), { message: "invalid token", full: false });
      assert.doesNotMatch(String(err), /app-token/);
    }
  });

  it("resumes after a drop with recovered true and every missed message once, in order", async () => {
    const client = await io.open(app.urls[0]!);
    const publisher = await io.open(app.urls[0]!);
    await client.subscribe("room-resume");
    // Recovery replays from the offset of the last broadcast the client took: it needs one first.
    await publisher.publish("room-resume", { seq: 0 });
    assert.ok(await client.next("room-resume", () => true, 2_000));
    await client.drop();
    await assert.rejects(client.publish("room-resume", "while away"), /not connected to .*: the connection dropped/);
    for (let seq = 1; seq <= 5; seq++) void publisher.publish("room-resume", { seq });
    await publisher.flush!(1_000);
    const phases = recorder();
    const resumed = await client.resume({ url: app.urls[0]!, label: "again" }, phases.phase);
    assert.deepEqual(resumed, { recovered: true });
    assert.deepEqual(phases.names, ["connect again", "upgrade again", "handshake again"]);
    const replayed = [];
    for (let i = 0; i < 5; i++) replayed.push(await client.next("room-resume", () => true, 2_000));
    await client.flush!(1_000);
    assert.deepEqual([...replayed, ...client.takeAll("room-resume")].map((m) => (m?.payload as { seq: number }).seq), [1, 2, 3, 4, 5]);
    await publisher.publish("room-resume", { seq: 6 });
    assert.deepEqual((await client.next("room-resume", () => true, 2_000))?.payload, { seq: 6 }, "the room is joined again after recovery");
  });

  it("fails in its connect phase once the app is stopped, naming the target", async () => {
    await app.kill();
    const phases = recorder();
    await assert.rejects(io.open(app.urls[0]!, { phases }), /connection refused by 127\.0\.0\.1:\d+/);
    assert.equal(phases.failed, "connect");
  });
});

describe("socket.io adapter: an app at its connection limit", { timeout: 20_000 }, () => {
  let app: SocketIoHarness;
  const io = clients(() => app);
  before(async () => (app = await startSocketIo({ nodes: 1, maxClients: 2 })));
  after(async () => {
    io.closeAll();
    await app?.stop();
  });

  it("is refused in its handshake with the app's reason, as full", async () => {
    await io.open(app.urls[0]!);
    await io.open(app.urls[0]!);
    const phases = recorder();
    const err = await io.open(app.urls[0]!, { phases }).then(
      () => assert.fail("a third client got in"),
      (e: unknown) => e,
    );
    assert.equal(phases.failed, "handshake");
    assert.match(String(err), /refused the Socket\.IO connection: connect_error "server full"/);
    assert.deepEqual(refusalOf(err), { message: "server full", full: true });
  });
});

describe("socket.io adapter: two app nodes with @socket.io/redis-adapter", { timeout: 30_000 }, () => {
  let app: SocketIoHarness;
  const io = clients(() => app);
  before(async () => (app = await startSocketIo({ nodes: 2 })));
  after(async () => {
    io.closeAll();
    await app?.stop();
  });

  it("delivers across nodes, both ways", async () => {
    const [zero, one] = [await io.open(app.urls[0]!), await io.open(app.urls[1]!)];
    await zero.subscribe("room-cross");
    await one.subscribe("room-cross");
    await one.publish("room-cross", { from: 1 });
    await zero.publish("room-cross", { from: 0 });
    assert.deepEqual((await zero.next("room-cross", (m) => (m.payload as { from: number }).from === 1, 2_000))?.payload, { from: 1 });
    assert.deepEqual((await one.next("room-cross", (m) => (m.payload as { from: number }).from === 0, 2_000))?.payload, { from: 0 });
  });

  it("keeps delivering on each node while Redis is paused, delivers across nodes again after", async () => {
    const subscriber = await io.open(app.urls[0]!);
    const local = await io.open(app.urls[0]!);
    const remote = await io.open(app.urls[1]!);
    await subscriber.subscribe("room-pause");
    await app.redis.pause(2_000);
    const pausedAt = performance.now();
    await local.publish("room-pause", "local during pause");
    await remote.publish("room-pause", "remote during pause");
    assert.equal((await subscriber.next("room-pause", (m) => m.text === "local during pause", 1_000))?.text, "local during pause");
    assert.equal(await subscriber.next("room-pause", (m) => m.text === "remote during pause", 1_000 - (performance.now() - pausedAt) - 50), undefined);
    // The paused publish waited in ioredis and goes out when Redis answers again.
    assert.ok(await subscriber.next("room-pause", (m) => m.text === "remote during pause", 3_000), "the paused publish arrives after the pause");
    await remote.publish("room-pause", "remote after pause");
    assert.ok(await subscriber.next("room-pause", (m) => m.text === "remote after pause", 2_000));
  });

  it("resumes with recovered false, since the Redis adapter keeps no session, and joins the room again", async () => {
    const client = await io.open(app.urls[0]!);
    const publisher = await io.open(app.urls[1]!);
    await client.subscribe("room-resume2");
    await publisher.publish("room-resume2", { seq: 0 });
    assert.ok(await client.next("room-resume2", () => true, 2_000));
    await client.drop();
    for (let seq = 1; seq <= 5; seq++) await publisher.publish("room-resume2", { seq });
    const resumed = await client.resume({ url: app.urls[0]! }, recorder().phase);
    assert.equal(resumed.recovered, false);
    assert.match(resumed.why!, /socket\.recovered false.*@socket\.io\/redis-adapter/);
    await publisher.publish("room-resume2", { seq: 6 });
    assert.deepEqual((await client.next("room-resume2", () => true, 2_000))?.payload, { seq: 6 });
    await client.flush!(500);
    assert.deepEqual(texts(client.takeAll("room-resume2")), [], "nothing published while away is replayed");
  });
});

describe("socket.io app: its Redis stopped", { timeout: 20_000 }, () => {
  let redis: TestRedis;
  let app: SocketIoHarness;
  const io = clients(() => app);
  before(async () => {
    redis = await startRedis();
    app = await startSocketIo({ nodes: 2, redisUrl: redis.url });
  });
  after(async () => {
    io.closeAll();
    await app?.stop();
  });

  it("keeps each node up and delivering to its own clients, logging the lost cross-node publish", async () => {
    const subscriber = await io.open(app.urls[0]!);
    const local = await io.open(app.urls[0]!);
    const remote = await io.open(app.urls[1]!);
    await subscriber.subscribe("room-down");
    await redis.stop();
    await remote.publish("room-down", "remote while down");
    await local.publish("room-down", "local while down");
    assert.ok(await subscriber.next("room-down", (m) => m.text === "local while down", 1_000));
    await waitFor("node-1 to log the failed publish", () => app.output(1).includes("redis publish failed: cross-node delivery lost"), 10_000, 50);
    assert.ok(app.pids.every(alive), `both nodes still run:\n${app.output(0)}\n${app.output(1)}`);
    await local.publish("room-down", "local later");
    assert.ok(await subscriber.next("room-down", (m) => m.text === "local later", 1_000));
    assert.equal(subscriber.takeAll("room-down").length, 0, "the remote publish never arrives");
  });
});
