import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { ProbeFailure, refusalOf } from "../../src/probe-runtime/index.ts";
import adapter from "../../src/probe-runtime/realtime/mqtt.ts";
import type { ConnectionSettings, RealtimeClient, ResumableClient } from "../../src/probe-runtime/realtime/index.ts";
import { startMosquitto, type MosquittoHarness } from "../helpers/brokers/mosquitto.ts";
import { activeResources, expectNoLeak } from "../helpers/probes.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/** The MQTT adapter against a real Mosquitto: phases, pub/sub, refusals, resume, $SYS load, the connection limit. */

let broker: MosquittoHarness;
const open: RealtimeClient[] = [];

interface Attempt {
  /** Each phase run, in order, with whether it failed. */
  phases: { name: string; failed: boolean }[];
  client?: ResumableClient;
  error?: ProbeFailure;
}

/** A phase runner that records what ran. */
function recorder(phases: Attempt["phases"]) {
  return async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    try {
      const value = await work();
      phases.push({ name, failed: false });
      return value;
    } catch (err) {
      phases.push({ name, failed: true });
      throw err;
    }
  };
}

interface ConnectArgs {
  url?: string;
  auth?: ConnectionSettings["auth"];
  mqtt?: Record<string, unknown>;
  name?: string;
  label?: string;
  clientId?: string;
  signal?: AbortSignal;
}

/** Connects through the adapter; a failure is returned, not thrown. */
async function attempt(args: ConnectArgs = {}): Promise<Attempt> {
  const url = args.url ?? broker.tcpUrl;
  const phases: Attempt["phases"] = [];
  const settings = { protocol: "mqtt", url, headers: {}, auth: "auth" in args ? args.auth : { username: broker.username, password: broker.password } } as ConnectionSettings;
  try {
    const client = (await adapter.connect({
      url,
      name: args.name,
      label: args.label,
      clientId: args.clientId,
      settings,
      protocolSettings: adapter.settingsSchema.parse(args.mqtt ?? {}),
      signal: args.signal ?? new AbortController().signal,
      phase: recorder(phases),
    })) as ResumableClient;
    open.push(client);
    return { phases, client };
  } catch (err) {
    assert.ok(err instanceof ProbeFailure, `a ProbeFailure, not ${String(err)}`);
    return { phases, error: err };
  }
}

async function connect(args: ConnectArgs = {}): Promise<ResumableClient> {
  const { client, error } = await attempt(args);
  if (error) throw error;
  return client!;
}

const ok = (...names: string[]) => names.map((name) => ({ name, failed: false }));
/** host:port of a URL, as a regular expression. */
const hostPattern = (url: string) => new URL(url).host.replaceAll(".", "\\.");

before(async () => {
  broker = await startMosquitto();
});

afterEach(() => {
  for (const client of open.splice(0)) client.close();
});

after(async () => {
  await broker?.stop();
});

describe("connecting", () => {
  test("over TCP: phases connect and handshake; info says the version and that there was no session", async () => {
    for (const version of [4, 5]) {
      const { client, phases, error } = await attempt({ mqtt: { version } });
      assert.equal(error, undefined);
      assert.deepEqual(phases, ok("connect", "handshake"));
      assert.equal(client!.where, new URL(broker.tcpUrl).host);
      assert.equal(client!.info.version, version === 5 ? "5" : "3.1.1");
      assert.equal(client!.info.sessionPresent, false);
      assert.match(String(client!.info.clientId), /^pulseboard-[0-9a-f]{12}$/);
    }
  });

  test("over WebSocket: phases connect, upgrade and handshake, labelled, naming the target", async () => {
    const { client, phases, error } = await attempt({ url: broker.wsUrl, name: "broker-1", label: "broker-1" });
    assert.equal(error, undefined);
    assert.deepEqual(phases, ok("connect broker-1", "upgrade broker-1", "handshake broker-1"));
    assert.equal(client!.where, `broker-1 (${new URL(broker.wsUrl).host})`);
  });

  test("auth { token } is the password of the user pulseboard", async () => {
    const { error } = await attempt({ auth: { token: broker.token } });
    assert.equal(error, undefined);
    const wrong = await attempt({ auth: { token: `${broker.token}x` } });
    assert.match(wrong.error!.message, /refused the connection: CONNACK 5 \(not authorized\)/);
  });

  test("auth { bearer } on mqtt:// fails before connecting, saying where a bearer goes", async () => {
    const { phases, error } = await attempt({ auth: { bearer: "abc" } });
    assert.deepEqual(phases, []);
    assert.match(error!.message, /auth\.bearer is sent in a WebSocket upgrade's Authorization header, and mqtt:\/\/ has no upgrade/);
  });
});

describe("refusals", () => {
  test("a wrong password fails the handshake naming the CONNACK code and its meaning; the secret is not in it", async () => {
    for (const [url, version, reason] of [
      [broker.tcpUrl, 4, "CONNACK 5 (not authorized)"],
      [broker.tcpUrl, 5, "CONNACK 0x87 (not authorized)"],
      [broker.wsUrl, 4, "CONNACK 5 (not authorized)"],
    ] as const) {
      const password = `${broker.password}-wrong`;
      const { phases, error } = await attempt({ url, auth: { username: broker.username, password }, mqtt: { version } });
      assert.equal(phases.at(-1)?.name, "handshake");
      assert.equal(phases.at(-1)?.failed, true);
      assert.equal(error!.message, `${new URL(url).host} refused the connection: ${reason}`);
      assert.deepEqual(refusalOf(error), { message: reason, full: false });
      assert.ok(!error!.message.includes(password));
    }
  });

  test("the harness's wrongAuth settings fail as it says", async () => {
    const { settings, error: expected } = broker.wrongAuth!;
    const { error } = await attempt({ url: settings.url as string, auth: settings.auth as ConnectionSettings["auth"] });
    assert.match(error!.message, expected);
  });

  test("a stopped broker fails the connect phase: connection refused, over TCP and WebSocket", async () => {
    const gone = await startMosquitto();
    await gone.kill();
    await gone.stop();
    for (const url of [gone.tcpUrl, gone.wsUrl]) {
      const { phases, error } = await attempt({ url });
      assert.deepEqual(phases, [{ name: "connect", failed: true }]);
      assert.match(error!.message, new RegExp(`^connection refused by ${hostPattern(url)}: nothing is listening`));
    }
  });

  test("a second connection with the client's id takes the session over: the first fails as closed (Mosquitto 2.0.11 sends MQTT 5 no DISCONNECT)", async () => {
    for (const version of [4, 5]) {
      const clientId = uniquePrefix("takeover");
      const first = await connect({ clientId, mqtt: { version } });
      await first.subscribe("takeover/t");
      await connect({ clientId, mqtt: { version } });
      await assert.rejects(first.next("takeover/t", () => true, 2_000), { message: /^127\.0\.0\.1:\d+ closed the connection$/ });
      assert.match(broker.log(), new RegExp(`Client ${clientId} already connected, closing old connection`));
    }
  });

  test("a topic filter MQTT does not allow fails the subscribe naming it", async () => {
    const client = await connect();
    await assert.rejects(client.subscribe("a/#/b"), /cannot subscribe to "a\/#\/b" on 127\.0\.0\.1:\d+: Invalid topic/);
  });
});

describe("publish and subscribe", () => {
  for (const transport of ["tcp", "ws"] as const) {
    test(`over ${transport}: payloads arrive as sent, JSON parsed, back-to-back publishes in order`, async () => {
      const url = transport === "tcp" ? broker.tcpUrl : broker.wsUrl;
      const [subscriber, publisher] = await Promise.all([connect({ url }), connect({ url })]);
      const topic = `${uniquePrefix("pubsub")}/t`;
      assert.deepEqual(await subscriber.subscribe(topic), {});
      await publisher.publish(topic, { n: 1, text: "é" });
      const first = await subscriber.next(topic, () => true, 2_000);
      assert.deepEqual(first?.payload, { n: 1, text: "é" });
      assert.equal(first?.text, JSON.stringify({ n: 1, text: "é" }));
      assert.equal(first?.channel, topic);

      const acks = [publisher.publish(topic, "plain text"), publisher.publish(topic, 2), publisher.publish(topic, [3])];
      assert.deepEqual(await Promise.all(acks), [{}, {}, {}]);
      const rest = [];
      for (let i = 0; i < 3; i++) rest.push(await subscriber.next(topic, () => true, 2_000));
      assert.deepEqual(rest.map((m) => m?.text), ["plain text", "2", "[3]"]);
      assert.deepEqual(rest.at(-1)?.payload, [3]);
    });
  }

  test("QoS 0 publishes resolve once written and arrive; a wildcard subscription gets its topics under the filter", async () => {
    const [subscriber, publisher] = await Promise.all([connect({ mqtt: { qos: 0 } }), connect({ mqtt: { qos: 0 } })]);
    const base = uniquePrefix("wild");
    await subscriber.subscribe(`${base}/+`);
    await publisher.publish(`${base}/a`, "one");
    await publisher.publish(`${base}/b/deeper`, "not matched by +");
    await publisher.publish(`${base}/c`, "two");
    const got = [await subscriber.next(`${base}/+`, () => true, 2_000), await subscriber.next(`${base}/+`, () => true, 2_000)];
    assert.deepEqual(got.map((m) => m?.text), ["one", "two"]);
    const flushed = performance.now();
    await subscriber.flush!(2_000);
    assert.ok(performance.now() - flushed < 1_000, "flush is a round trip the broker answers, not a wait for its timeout");
    assert.deepEqual(subscriber.takeAll(`${base}/+`), []);
    assert.deepEqual(subscriber.takeAll(`${base}/b/deeper`), []);
  });

  test("a verb on a closed client fails naming it", async () => {
    const client = await connect();
    client.close();
    client.close();
    await assert.rejects(client.publish("x", 1), /the connection to 127\.0\.0\.1:\d+ was closed/);
  });
});

describe("resume", () => {
  for (const transport of ["tcp", "ws"] as const) {
    test(`over ${transport} with clean: false: recovered, and the 5 messages published while away arrive once, in order`, async () => {
      const url = transport === "tcp" ? broker.tcpUrl : broker.wsUrl;
      const topic = `${uniquePrefix("resume")}/t`;
      const client = await connect({ url, mqtt: { clean: false } });
      const publisher = await connect({ url });
      await client.subscribe(topic);
      await client.drop();
      await assert.rejects(client.publish(topic, "while dropped"), /was dropped/);
      for (let n = 1; n <= 5; n++) await publisher.publish(topic, { n });

      const phases: Attempt["phases"] = [];
      const resumed = await client.resume({ url, label: "again" }, recorder(phases));
      assert.deepEqual(resumed, { recovered: true });
      assert.deepEqual(phases, transport === "tcp" ? ok("connect again", "handshake again") : ok("connect again", "upgrade again", "handshake again"));
      assert.equal(client.info.sessionPresent, true);
      const got = [];
      for (let i = 0; i < 5; i++) got.push((await client.next(topic, () => true, 2_000))?.payload);
      assert.deepEqual(got, [1, 2, 3, 4, 5].map((n) => ({ n })));
      await client.flush!(2_000);
      assert.deepEqual(client.takeAll(topic), [], "no message arrived twice");

      await publisher.publish(topic, "live again");
      assert.equal((await client.next(topic, () => true, 2_000))?.text, "live again");
    });
  }

  test("with clean: true the broker kept nothing: recovered false, the missed messages are gone, live ones arrive again", async () => {
    const topic = `${uniquePrefix("clean")}/t`;
    const client = await connect({ mqtt: { clean: true } });
    const publisher = await connect();
    await client.subscribe(topic);
    await client.drop();
    await publisher.publish(topic, "missed");
    assert.deepEqual(await client.resume({ url: broker.tcpUrl }, recorder([])), { recovered: false });
    await publisher.publish(topic, "after");
    assert.equal((await client.next(topic, () => true, 2_000))?.text, "after", "resubscribed after a session that was not kept");
    await client.flush!(2_000);
    assert.deepEqual(client.takeAll(topic), []);
  });

  test("MQTT 5 with clean: false keeps the session too (session expiry set)", async () => {
    const topic = `${uniquePrefix("v5")}/t`;
    const client = await connect({ mqtt: { clean: false, version: 5 } });
    const publisher = await connect({ mqtt: { version: 5 } });
    await client.subscribe(topic);
    await client.drop();
    await publisher.publish(topic, "queued");
    assert.deepEqual(await client.resume({ url: broker.tcpUrl }, recorder([])), { recovered: true });
    assert.equal((await client.next(topic, () => true, 2_000))?.text, "queued");
  });
});

describe("load", () => {
  test("$SYS/broker/clients/connected rises with held clients; its messages stay out of the probe's channels", async () => {
    const watcher = await connect();
    await watcher.subscribe("#");
    const load = () => adapter.load!(watcher, { protocolSettings: adapter.settingsSchema.parse({}), signal: new AbortController().signal, withinMs: 1_500 });
    // Mosquitto republishes the count once a second (sys_interval 1): the first answers may still count clients of earlier tests.
    const counted = (n: number) => waitFor(`the connected count to be ${n}`, async () => ((await load())?.connections === n ? true : undefined), 5_000, 200);
    const first = await load();
    assert.equal(first?.source, "$SYS/broker/clients/connected");
    assert.ok(Number.isInteger(first?.connections));
    await counted(1);
    await Promise.all([connect(), connect(), connect({ url: broker.wsUrl })]);
    await counted(4);
    assert.deepEqual(watcher.takeAll("#"), []);
    assert.deepEqual(watcher.takeAll("$SYS/broker/clients/connected"), []);
  });

  test("a broker that publishes no $SYS: undefined after withinMs", async () => {
    const quiet = await startMosquitto({ sysInterval: 0 });
    try {
      const client = await connect({ url: quiet.tcpUrl, auth: { username: quiet.username, password: quiet.password } });
      const started = performance.now();
      const load = await adapter.load!(client, { protocolSettings: adapter.settingsSchema.parse({}), signal: new AbortController().signal, withinMs: 400 });
      assert.equal(load, undefined);
      assert.ok(performance.now() - started >= 390);
    } finally {
      for (const client of open.splice(0)) client.close();
      await quiet.stop();
    }
  });
});

describe("the connection limit", () => {
  test("at max_connections Mosquitto accepts TCP, then closes it before CONNACK (no refusal code); its WebSocket listener does not enforce it; its count drifts up", async () => {
    const limited = await startMosquitto({ maxConnections: 2 });
    const auth = { username: limited.username, password: limited.password };
    try {
      await connect({ url: limited.tcpUrl, auth });
      const second = await connect({ url: limited.tcpUrl, auth });
      const denied = await attempt({ url: limited.tcpUrl, auth });
      assert.deepEqual(denied.phases, [{ name: "connect", failed: false }, { name: "handshake", failed: true }]);
      assert.match(denied.error!.message, new RegExp(`^${hostPattern(limited.tcpUrl)} closed the connection before answering CONNECT`));
      assert.equal(refusalOf(denied.error), undefined, "no CONNACK, so no refusal to report");
      await waitFor("the broker's log of the denial", () => /Client connection from 127\.0\.0\.1 denied: max_connections exceeded\./.test(limited.log()), 2_000);

      // Mosquitto 2.0.11 counts max_connections per listener, and lets its websockets listener past it.
      const ws = await Promise.all([1, 2, 3].map(() => attempt({ url: limited.wsUrl, auth })));
      assert.deepEqual(ws.map((a) => a.error?.message), [undefined, undefined, undefined]);

      // Its count drifts: a clean session's disconnect frees two places, a CONNECT it refused frees one it never took.
      const tcpClient = async () => (await attempt({ url: limited.tcpUrl, auth })).client;
      const turnedAway = async () => /closed the connection before answering CONNECT/.test((await attempt({ url: limited.tcpUrl, auth })).error?.message ?? "");
      second.close();
      const third = await waitFor("a place to free up", tcpClient, 3_000, 100);
      assert.ok(await tcpClient(), "a second place freed by one disconnect");
      assert.equal(await turnedAway(), true);
      third.close();
      await waitFor("two places to free up", tcpClient, 3_000, 100);
      assert.match((await attempt({ url: limited.tcpUrl, auth: { ...auth, password: "wrong" } })).error!.message, /CONNACK 5/);
      assert.ok((await tcpClient()) && (await tcpClient()), "the second freed place, and one more freed by the refused CONNECT");
      assert.equal(await turnedAway(), true);
    } finally {
      for (const client of open.splice(0)) client.close();
      await limited.stop();
    }
  });
});

describe("cleanup", () => {
  test("after close, drop and resume, nothing stays open", async () => {
    const baseline = activeResources();
    const topic = `${uniquePrefix("leak")}/t`;
    const tcp = await connect({ mqtt: { clean: false } });
    const ws = await connect({ url: broker.wsUrl });
    await tcp.subscribe(topic);
    await ws.subscribe(topic);
    await ws.publish(topic, "x");
    await tcp.next(topic, () => true, 2_000);
    await adapter.load!(tcp, { protocolSettings: adapter.settingsSchema.parse({}), signal: new AbortController().signal, withinMs: 1_500 });
    await tcp.drop();
    await tcp.resume({ url: broker.tcpUrl }, recorder([]));
    await ws.flush!(2_000);
    for (const client of open.splice(0)) client.close();
    await expectNoLeak(baseline);
  });

  test("the signal ends a connection mid-upgrade and a waiting next(), leaking nothing", async () => {
    const baseline = activeResources();
    const early = new AbortController();
    setTimeout(() => early.abort(), 50);
    // Mosquitto 2.0's websockets listener takes ~200 ms to answer an upgrade: the abort lands during it (or the handshake).
    const { phases, error } = await attempt({ url: broker.wsUrl, signal: early.signal });
    assert.deepEqual(phases[0], { name: "connect", failed: false });
    assert.match(phases.at(-1)!.name, /^(upgrade|handshake)$/);
    assert.equal(phases.at(-1)!.failed, true);
    assert.match(error!.message, /aborted at the deadline (while connecting to |\()127\.0\.0\.1:\d+/);

    const late = new AbortController();
    const client = await connect({ signal: late.signal });
    await client.subscribe("nobody/publishes/here");
    setTimeout(() => late.abort(), 50);
    await assert.rejects(client.next("nobody/publishes/here", () => true, 5_000), /aborted at the deadline \(127\.0\.0\.1:\d+\)/);
    open.splice(0);
    await expectNoLeak(baseline);
  });
});

describe("settings", () => {
  test("the mqtt block's defaults, and messages that name the problem", () => {
    assert.deepEqual(adapter.settingsSchema.parse({}), { qos: 1, clean: true, version: 4, keepalive: 30, client_id_prefix: "pulseboard-" });
    const message = (block: unknown) => adapter.settingsSchema.safeParse(block).error?.issues.map((i) => i.message).join("; ");
    assert.equal(message({ qos: 2 }), "qos is 0 or 1 (QoS 2 is not supported)");
    assert.equal(message({ version: 3 }), "version is 4 (MQTT 3.1.1) or 5 (MQTT 5)");
    assert.equal(message({ keepalive: -1 }), "keepalive is 0 (off) or more seconds");
    assert.equal(message({ keepalive: 1.5 }), "keepalive is whole seconds");
    assert.equal(message({ clean: "no" }), "clean is true or false");
    assert.equal(message({ client_id_prefix: "has space" }), "client_id_prefix is printable ASCII without spaces (brokers reject other client ids)");
    assert.match(message({ qos: 1, retain: true }) ?? "", /retain/);
  });
});
