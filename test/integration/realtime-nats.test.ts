import assert from "node:assert/strict";
import net from "node:net";
import { after, afterEach, before, describe, it } from "node:test";
import nats, { natsSettings } from "../../src/probe-runtime/realtime/nats.ts";
import type { ConnectionSettings } from "../../src/probe-runtime/realtime/connection.ts";
import type { PhaseRunner, RealtimeClient, Refusal } from "../../src/probe-runtime/realtime/types.ts";
import { ProbeFailure } from "../../src/probe-runtime/types.ts";
import { refusalOf } from "../../src/probe-runtime/realtime/client-base.ts";
import { startNats, type NatsAuth, type NatsHarness } from "../helpers/brokers/nats.ts";
import { activeResources, expectNoLeak } from "../helpers/probes.ts";
import { freeze } from "../helpers/processes.ts";
import { waitFor } from "../helpers/wait.ts";

/** One connection attempt: the client, or the failure and the phase it came in; every phase that ran, in order. */
interface Attempt {
  client?: RealtimeClient;
  error?: ProbeFailure;
  failed?: string;
  phases: string[];
}

interface AttemptOptions {
  /** null: no auth at all. @defaultValue the harness's own */
  auth?: NatsAuth | { bearer: string } | null;
  nats?: Record<string, unknown>;
  tls?: ConnectionSettings["tls"];
  name?: string;
  label?: string;
  signal?: AbortSignal;
}

/** This process's open TCP sockets to the ports of `urls`: a leaked client socket, named by where it goes. */
function socketsTo(...urls: string[]): number {
  const ports = new Set(urls.map((url) => Number(new URL(url).port)));
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h) => h instanceof net.Socket && h.remotePort !== undefined && ports.has(h.remotePort)).length;
}

describe("realtime adapter nats (real nats-server)", () => {
  let server: NatsHarness;
  let cluster: NatsHarness;
  let opened: RealtimeClient[] = [];
  const endless = new AbortController();
  let n = 0;
  const subject = (name: string): string => `t.${name}.${process.pid}.${++n}`;

  /** Connects the way a probe run does, recording each phase and the one that failed. */
  const attempt = async (harness: NatsHarness, url: string, options: AttemptOptions = {}): Promise<Attempt> => {
    const phases: string[] = [];
    let failed: string | undefined;
    const phase: PhaseRunner = async (name, work) => {
      phases.push(name);
      try {
        return await work();
      } catch (err) {
        failed ??= name;
        throw err;
      }
    };
    const auth = options.auth === null ? undefined : (options.auth ?? harness.settings.auth);
    const settings: ConnectionSettings = { protocol: "nats", url, headers: {}, auth, tls: options.tls };
    try {
      const client = await nats.connect({ url, name: options.name, label: options.label, settings, protocolSettings: natsSettings.parse(options.nats ?? {}), signal: options.signal ?? endless.signal, phase });
      opened.push(client);
      return { client, phases };
    } catch (err) {
      assert.ok(err instanceof ProbeFailure, `a ProbeFailure, not ${String(err)}`);
      return { error: err, failed, phases };
    }
  };
  const connect = async (harness: NatsHarness, url: string, options: AttemptOptions = {}): Promise<RealtimeClient> => {
    const result = await attempt(harness, url, options);
    assert.ok(result.client, `connected to ${url}: ${result.error?.message}`);
    return result.client;
  };
  const refused = async (harness: NatsHarness, url: string, options: AttemptOptions = {}): Promise<Attempt & { error: ProbeFailure }> => {
    const result = await attempt(harness, url, options);
    assert.ok(result.error, `${url} must refuse the connection`);
    return result as Attempt & { error: ProbeFailure };
  };
  const host = (url: string): string => new URL(url).host;
  const load = (client: RealtimeClient, monitorUrl?: string) => nats.load!(client, { protocolSettings: natsSettings.parse(monitorUrl ? { monitor_url: monitorUrl } : {}), signal: endless.signal, withinMs: 2_000 });

  before(async () => {
    [server, cluster] = await Promise.all([startNats(), startNats({ nodes: 2 })]);
  });
  afterEach(() => {
    for (const client of opened) client.close();
    opened = [];
  });
  after(async () => {
    await Promise.all([server?.stop(), cluster?.stop()]);
  });

  it("the nats: block has its defaults, takes an http(s) monitor_url and nothing unknown", () => {
    assert.deepEqual(natsSettings.parse({}), { name: "pulseboard-probe", tls_first: false });
    assert.equal(natsSettings.parse({ monitor_url: "https://nats.example.com:8222" }).monitor_url, "https://nats.example.com:8222");
    assert.match(natsSettings.safeParse({ monitor_url: "nats://nats.example.com:4222" }).error!.message, /expected the monitoring port's URL/);
    assert.equal(natsSettings.safeParse({ monitor: "http://x" }).success, false);
    assert.deepEqual(nats.schemes, ["nats", "tls", "ws", "wss"]);
  });

  it("connects over nats:// timing connect and handshake, and reports the server's INFO", async () => {
    const url = server.tcpUrls[0]!;
    const { client, phases } = await attempt(server, url, { name: "node-0", label: "node-0" });
    assert.deepEqual(phases, ["connect node-0", "handshake node-0"]);
    assert.equal(client!.where, `node-0 (${host(url)})`);
    assert.equal(client!.info.server_name, "node-0");
    assert.match(String(client!.info.version), /^2\./);
    assert.equal(client!.refusal, undefined);
  });

  it("connects over ws:// timing connect, upgrade and handshake, with the connection name the server shows", async () => {
    const { client, phases } = await attempt(server, server.wsUrls[0]!, { nats: { name: "probe-check-ws" } });
    assert.deepEqual(phases, ["connect", "upgrade", "handshake"]);
    assert.equal(client!.info.server_name, "node-0");
    const connz = await server.monitor<{ connections: { name?: string }[] }>(0, "/connz");
    assert.ok(connz.connections.some((c) => c.name === "probe-check-ws"), `the server lists the probe by name: ${JSON.stringify(connz.connections.map((c) => c.name))}`);
  });

  it("takes the token from a nats://token@host URL when auth is not set", async () => {
    const url = server.tcpUrls[0]!.replace("nats://", `nats://${server.token}@`);
    const client = await connect(server, url, { auth: null });
    assert.equal(client.where, host(server.tcpUrls[0]!), "the token is not part of the target's name");
  });

  it("subscribes, publishes and receives: a TCP subscriber gets a WebSocket publisher's messages in order, JSON parsed and text kept", async () => {
    const channel = subject("order");
    const subscriber = await connect(server, server.tcpUrls[0]!);
    const publisher = await connect(server, server.wsUrls[0]!);
    assert.deepEqual(await subscriber.subscribe(channel), {});
    const acks = Array.from({ length: 20 }, (_, seq) => publisher.publish(channel, { seq }));
    acks.push(publisher.publish(channel, "plain text, ünïcode"));
    assert.deepEqual(await Promise.all(acks), Array.from({ length: 21 }, () => ({})));
    for (let seq = 0; seq < 20; seq++) {
      const message = await subscriber.next(channel, () => true, 2_000);
      assert.deepEqual(message?.payload, { seq }, `message ${seq} in order`);
      assert.equal(message?.text, JSON.stringify({ seq }));
      assert.equal(message?.channel, channel);
    }
    const text = await subscriber.next(channel, () => true, 2_000);
    assert.equal(text?.payload, "plain text, ünïcode");
  });

  it("flush is a round trip: what the server sent before its PONG has arrived, and takeAll finds it", async () => {
    const channel = subject("flush");
    const subscriber = await connect(server, server.wsUrls[0]!);
    const publisher = await connect(server, server.tcpUrls[0]!);
    await subscriber.subscribe(channel);
    for (let seq = 0; seq < 5; seq++) await publisher.publish(channel, { seq });
    await subscriber.flush!(2_000);
    assert.deepEqual(subscriber.takeAll(channel).map((m) => m.payload), [0, 1, 2, 3, 4].map((seq) => ({ seq })));
    assert.deepEqual(subscriber.takeAll(channel), [], "takeAll removed them");
  });

  it("a wildcard subscription delivers under the wildcard it was made with; subscribing twice delivers once", async () => {
    const base = subject("wild");
    const client = await connect(server, server.tcpUrls[0]!);
    await client.subscribe(`${base}.*`);
    await client.subscribe(`${base}.*`);
    await client.publish(`${base}.eu`, { region: "eu" });
    await client.flush!(2_000);
    assert.deepEqual(client.takeAll(`${base}.*`).map((m) => m.payload), [{ region: "eu" }]);
    assert.deepEqual(client.takeAll(`${base}.eu`), []);
  });

  it("refuses to publish on a wildcard or spaced subject without sending it; the connection stays usable", async () => {
    const client = await connect(server, server.tcpUrls[0]!);
    await assert.rejects(client.publish("orders.*", "x"), { message: 'cannot publish on "orders.*": a subject to publish on has no wildcards (* >)' });
    await assert.rejects(client.subscribe("a b"), { message: 'cannot subscribe to "a b": a subject has no white space' });
    const channel = subject("after-invalid");
    await client.subscribe(channel);
    await client.publish(channel, "still here");
    assert.equal((await client.next(channel, () => true, 2_000))?.text, "still here");
  });

  it("delivers across the two-node cluster: subscribed on node 0, published on node 1", async () => {
    assert.equal(cluster.nodes?.length, 2);
    const channel = subject("cross");
    const subscriber = await connect(cluster, cluster.nodes![0]!, { name: "node-0" });
    const publisher = await connect(cluster, cluster.nodes![1]!, { name: "node-1" });
    assert.equal(subscriber.info.server_name, "node-0");
    assert.equal(publisher.info.server_name, "node-1");
    assert.equal(subscriber.info.cluster, "pulseboard-test");
    await subscriber.subscribe(channel);
    await cluster.routeInterest(1, channel);
    await publisher.publish(channel, { from: "node-1" });
    assert.deepEqual((await subscriber.next(channel, () => true, 2_000))?.payload, { from: "node-1" });
  });

  it("a wrong token fails in the handshake, quoting the server, and is not a full refusal", async () => {
    const wrong = server.wrongAuth!;
    const url = wrong.settings.url as string;
    const result = await refused(server, url, { auth: wrong.settings.auth as NatsAuth });
    assert.equal(result.failed, wrong.phase);
    assert.match(result.error.message, wrong.error);
    assert.equal(result.error.message, `${host(url)} refused the connection: -ERR 'Authorization Violation'`);
    assert.ok(!result.error.message.includes(server.token), "the token stays out of the message");
    assert.deepEqual(refusalOf(result.error), { message: "-ERR 'Authorization Violation'", full: false } satisfies Refusal);
  });

  it("no credentials for a server that requires them: the server's answer, and what to do", async () => {
    const result = await refused(server, server.tcpUrls[0]!, { auth: null });
    assert.equal(result.failed, "handshake");
    assert.equal(result.error.message, `${host(server.tcpUrls[0]!)} refused the connection: -ERR 'Authorization Violation' (the server requires auth and the probe gave none: set auth)`);
  });

  it("a bearer token over nats:// fails before connecting, saying where a bearer token goes", async () => {
    const result = await refused(server, server.tcpUrls[0]!, { auth: { bearer: "abc" } });
    assert.deepEqual(result.phases, []);
    assert.match(result.error.message, /^auth \{ bearer \} is sent as the Authorization header of a WebSocket upgrade, and nats:\/\/ has none/);
  });

  it("a stopped server fails in the connect phase: connection refused by the target; so does its monitoring port", async () => {
    const stopped = await startNats();
    await stopped.kill();
    try {
      const other = await connect(server, server.tcpUrls[0]!);
      await assert.rejects(load(other, stopped.monitorUrls[0]), {
        message: `the NATS monitoring port at ${host(stopped.monitorUrls[0]!)} refused the connection: is the server's http monitoring port set (http: …) and monitor_url right?`,
      });
      for (const url of [stopped.tcpUrls[0]!, stopped.wsUrls[0]!]) {
        const result = await refused(stopped, url, { name: "node-0" });
        assert.equal(result.failed, "connect", url);
        assert.equal(result.error.message, `connection refused by node-0 (${host(url)}): nothing is listening, or it refuses new clients`);
      }
    } finally {
      await stopped.stop();
    }
  });

  it("at max_connections a fresh client is refused in the handshake as full, in the server's words; /varz shows the held count and the limit", async () => {
    const full = await startNats({ maxConnections: 3 });
    try {
      const held = [await connect(full, full.tcpUrls[0]!), await connect(full, full.wsUrls[0]!), await connect(full, full.tcpUrls[0]!)];
      assert.deepEqual(await load(held[0]!, full.monitorUrls[0]), { connections: 3, limit: 3, source: "/varz" });
      assert.equal(await load(held[0]!), undefined, "no monitor_url, no load");
      for (const url of [full.tcpUrls[0]!, full.wsUrls[0]!]) {
        const result = await refused(full, url);
        assert.equal(result.failed, "handshake", url);
        assert.equal(result.error.message, `${host(url)} refused the connection: -ERR 'maximum connections exceeded'`);
        assert.deepEqual(refusalOf(result.error), { message: "-ERR 'maximum connections exceeded'", full: true } satisfies Refusal);
      }
      held[0]!.close();
      await waitFor("the server to count the closed client out", async () => (await load(held[1]!, full.monitorUrls[0]))?.connections === 2, 3_000, 20);
      await connect(full, full.tcpUrls[0]!);
    } finally {
      await full.stop();
    }
  });

  it("a -ERR answering one SUB or PUB (permissions) fails that call in the server's words; the connection lives on and answers the server's PINGs", async () => {
    const strict = await startNats({ user: { name: "probe", deny: ["secret.>"] }, pingInterval: "100ms" });
    try {
      const client = await connect(strict, strict.tcpUrls[0]!);
      const where = host(strict.tcpUrls[0]!);
      await assert.rejects(client.subscribe("secret.plans"), { message: `${where} refused the subscription to secret.plans: -ERR 'Permissions Violation for Subscription to "secret.plans"'` });
      await assert.rejects(client.publish("secret.plans", "x"), { message: `${where} refused the publish on secret.plans: -ERR 'Permissions Violation for Publish to "secret.plans"'` });
      // Six ping intervals idle: a client that did not answer would be dropped as stale after two.
      await new Promise((resolve) => setTimeout(resolve, 600));
      const channel = subject("open");
      await client.subscribe(channel);
      await client.publish(channel, "fine");
      assert.equal((await client.next(channel, () => true, 2_000))?.text, "fine");
      assert.equal(client.failure, undefined);
    } finally {
      await strict.stop();
    }
  });

  it("speaks TLS after the server's plain-text INFO: tls:// with its CA, nats:// to a TLS-only port, wss://; a certificate it cannot trust fails in connect", async () => {
    const baseline = activeResources();
    const secure = await startNats({ tls: true });
    try {
      const tlsUrl = secure.tcpUrls[0]!.replace("nats://", "tls://");
      const { client, phases } = await attempt(secure, tlsUrl, { tls: { ca: secure.certificate!, insecure: false } });
      assert.deepEqual(phases, ["connect", "handshake"]);
      const channel = subject("tls");
      await client!.subscribe(channel);
      await client!.publish(channel, "over tls");
      assert.equal((await client!.next(channel, () => true, 2_000))?.text, "over tls");
      await connect(secure, secure.tcpUrls[0]!, { tls: { ca: secure.certificate!, insecure: false } });
      const wss = await attempt(secure, secure.wsUrls[0]!, { tls: { ca: secure.certificate!, insecure: false } });
      assert.deepEqual(wss.phases, ["connect", "upgrade", "handshake"]);
      await wss.client!.publish(channel, "over wss");
      assert.equal((await client!.next(channel, () => true, 2_000))?.text, "over wss");
      const untrusted = await refused(secure, tlsUrl);
      assert.equal(untrusted.failed, "connect");
      assert.equal(untrusted.error.message, `${host(tlsUrl)}: self-signed certificate`);
      const plain = await refused(server, server.tcpUrls[0]!.replace("nats://", "tls://"));
      assert.equal(plain.failed, "connect");
      assert.equal(plain.error.message, `${host(server.tcpUrls[0]!)} offers no TLS (its INFO has no tls_required): use nats://, or check the port`);
      for (const client of opened) client.close();
      await waitFor("the TLS clients' sockets to be gone", () => socketsTo(secure.tcpUrls[0]!, secure.wsUrls[0]!) === 0, 2_000, 10);
    } finally {
      await secure.stop();
    }
    await expectNoLeak(baseline);
  });

  it("leaves no socket or timer behind: closed clients, and runs aborted in the handshake or upgrade of a server that answers nothing", async () => {
    const baseline = activeResources();
    const channel = subject("leak");
    const clients = [await connect(server, server.tcpUrls[0]!), await connect(server, server.wsUrls[0]!)];
    await clients[0]!.subscribe(channel);
    await clients[1]!.publish(channel, "x");
    assert.equal(socketsTo(server.tcpUrls[0]!, server.wsUrls[0]!), 2, "one socket per client while open");
    for (const client of clients) client.close();
    for (const client of clients) client.close();
    await waitFor("the closed clients' sockets to be gone", () => socketsTo(server.tcpUrls[0]!, server.wsUrls[0]!) === 0, 2_000, 10);
    await assert.rejects(clients[0]!.publish(channel, "after close"), { message: `the connection to ${host(server.tcpUrls[0]!)} was closed` });

    const stalled = await startNats();
    const beforeStall = activeResources();
    await freeze(stalled.pids[0]!);
    try {
      for (const [url, phase] of [[stalled.tcpUrls[0]!, "handshake"], [stalled.wsUrls[0]!, "upgrade"]] as const) {
        const run = new AbortController();
        setTimeout(() => run.abort(), 200);
        const result = await refused(stalled, url, { signal: run.signal });
        assert.equal(result.failed, phase, url);
        assert.match(result.error.message, /^aborted at the deadline/);
      }
      await waitFor("the aborted runs' sockets to be gone", () => socketsTo(stalled.tcpUrls[0]!, stalled.wsUrls[0]!) === 0, 2_000, 10);
      await expectNoLeak(beforeStall);
    } finally {
      process.kill(stalled.pids[0]!, "SIGCONT");
      await stalled.stop();
    }
    await expectNoLeak(baseline);
  });
});
