import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { adapters, closeCanaries, type PlatformTargets, type ProtocolName } from "../../src/probe-runtime/index.ts";
import { probeRegistry } from "../helpers/config.ts";
import { startMosquitto } from "../helpers/brokers/mosquitto.ts";
import { startNats } from "../helpers/brokers/nats.ts";
import { startPlainWebSocket } from "../helpers/brokers/plain-websocket.ts";
import { startPulseboardGateway } from "../helpers/brokers/pulseboard.ts";
import { silentTcp, silentWebSocket, type SilentServer } from "../helpers/brokers/silent.ts";
import { startSocketIo } from "../helpers/brokers/socket-io.ts";
import type { BrokerHarness } from "../helpers/brokers/types.ts";
import { runKind } from "../helpers/probes.ts";

/**
 * The contract every realtime-client adapter keeps, checked through the
 * probe kinds against a real broker for each protocol: connect, echo,
 * cross-node delivery (where the broker has nodes), resume (where the
 * protocol can), a refused handshake, a broker that accepts TCP but never
 * answers (the "Connecting…" popup), one that upgrades and then says
 * nothing, a broker killed mid-run, a bad URL and bad settings.
 */

interface Broker {
  name: string;
  start(): Promise<BrokerHarness>;
}

/** One or more brokers per protocol: a Record, so a protocol without a real broker here does not compile. */
const brokers: Record<ProtocolName, Broker[]> = {
  pulseboard: [{ name: "our gateway, two nodes sharing a cache Redis", start: startPulseboardGateway }],
  websocket: [{ name: "a ws echo server", start: () => startPlainWebSocket({ mode: "echo", token: "plain-token-0123456789" }) }],
  "socket.io": [
    { name: "two app nodes with @socket.io/redis-adapter", start: () => startSocketIo({ nodes: 2, token: "app-token-0123456789" }) },
    { name: "one app node with connection state recovery", start: () => startSocketIo({ nodes: 1, token: "app-token-0123456789" }) },
  ],
  mqtt: [
    { name: "Mosquitto over WebSocket", start: () => startMosquitto({ transport: "ws" }) },
    { name: "Mosquitto over TCP", start: () => startMosquitto({ transport: "tcp" }) },
  ],
  nats: [{ name: "a two-node nats-server cluster over WebSocket", start: () => startNats({ nodes: 2 }) }],
};

/** The phase a connection that upgrades and then hears nothing is stuck in, per protocol. */
const silentAfterUpgrade: Record<ProtocolName, string> = {
  pulseboard: "welcome",
  websocket: "echo",
  "socket.io": "upgrade",
  mqtt: "handshake",
  nats: "handshake",
};

for (const protocol of Object.keys(brokers) as ProtocolName[]) {
  for (const broker of brokers[protocol]) {
    describe(`realtime adapter conformance: ${protocol} (${broker.name})`, { timeout: 120_000 }, () => {
      let harness: BrokerHarness;
      let targets: PlatformTargets;
      const adapter = adapters[protocol];
      const channels = adapter.capabilities.channels;
      const run = (kind: string, settings: Record<string, unknown>, timeoutMs = 3_000, probe?: string) => runKind(kind, { ...harness.settings, ...settings }, { targets, timeoutMs, probe });
      const nodesOf = () => ({ nodes: harness.nodes ?? [harness.settings.url as string], ...(protocol === "pulseboard" ? { admin: null } : {}) });
      const parse = async (kind: string, settings: Record<string, unknown>) => (await probeRegistry()).get(kind)!.configSchema.safeParse({ ...harness.settings, ...settings });

      before(async () => {
        harness = await broker.start();
        targets = { gatewayUrl: String(harness.settings.url), gatewayNodeUrls: harness.nodes ?? [] };
      });
      after(async () => {
        closeCanaries();
        await harness?.stop();
      });

      it("connects, timing connect and the handshake", async () => {
        const result = await run("websocket", { channel: null });
        assert.equal(result.status, "ok", result.error);
        assert.equal(Object.keys(result.phases)[0], "connect");
        assert.equal(result.details?.protocol, protocol);
      });

      it("publishes and gets its own message back", async () => {
        const result = await run("websocket", { channel: "conformance.echo" });
        assert.equal(result.status, "ok", result.error);
        assert.ok("echo" in result.phases, `phases: ${Object.keys(result.phases).join(", ")}`);
      });

      if (channels) {
        it("delivers what one client publishes to another, across nodes where the broker has several, both ways", async () => {
          for (let turn = 0; turn < 2; turn++) {
            const result = await run("pubsub", { ...nodesOf(), messages: 5 }, 4_000, `conformance-pubsub-${protocol}`);
            assert.equal(result.status, "ok", result.error);
            assert.equal(result.details?.cross_node, (harness.nodes?.length ?? 1) > 1);
            assert.equal((result.details?.latency_ms as number[]).length, 5);
          }
        });
      } else {
        it("is a config error for the pubsub kind, naming the kind and the protocol", async () => {
          const parsed = await parse("pubsub", {});
          assert.equal(parsed.success, false);
          assert.match(String(parsed.error), new RegExp(`the pubsub kind needs channels to publish and subscribe on, which ${protocol} lacks`));
        });
      }

      if (!adapter.capabilities.resume) {
        it("is a config error for the resume kind, naming the kind and the protocol", async () => {
          const parsed = await parse("resume", {});
          assert.equal(parsed.success, false);
          assert.match(String(parsed.error), new RegExp(`the resume kind needs resume after a dropped connection, which ${protocol} lacks`));
        });
      } else {
        it("resumes after a dropped connection with every message published while away, or says the broker did not recover", async () => {
          const result = await run("resume", { ...nodesOf(), messages: 5 }, 5_000, `conformance-resume-${protocol}`);
          if (harness.resume) {
            assert.equal(result.status, "ok", result.error);
            assert.equal(result.details?.replayed, 5);
          } else {
            assert.equal(result.status, "failed");
            assert.match(result.failed_phase!, /^resume /);
            assert.match(result.error!, /answered recovered:false/);
          }
        });
      }

      // Our gateway takes no client credential (a proxy in front of it may); every other broker here checks one.
      if (protocol !== "pulseboard") {
        it("fails the handshake a wrong credential gets, with the broker's reason", async () => {
          assert.ok(harness.wrongAuth, "the harness gives a wrong credential");
          const result = await runKind("websocket", { ...harness.wrongAuth.settings, channel: null }, { targets, timeoutMs: 3_000 });
          assert.equal(result.status, "failed");
          assert.equal(result.failed_phase, harness.wrongAuth.phase);
          assert.match(result.error!, harness.wrongAuth.error);
        });
      }

      it("fails at the deadline in the phase it was stuck in when the broker accepts TCP and never answers", async () => {
        await withSilent(silentTcp, async (port) => {
          const url = onPort(String(harness.settings.url), port);
          const result = await run("websocket", { url, channel: null }, 800);
          assert.equal(result.status, "failed");
          assert.equal(result.failed_phase, /^(ws|wss|http|https):/.test(url) ? "upgrade" : "handshake");
          assert.match(result.error!, /timed out after 800 ms/);
        });
      });

      it("fails at the deadline in its handshake when the broker upgrades and then says nothing", async () => {
        await withSilent(silentWebSocket, async (port) => {
          const url = onPort(String(harness.settings.url), port).replace(/^mqtt:/, "ws:").replace(/^nats:/, "ws:");
          const result = await run("websocket", { url, ...(protocol === "websocket" ? {} : { channel: null }) }, 800);
          assert.equal(result.status, "failed");
          assert.equal(result.failed_phase, silentAfterUpgrade[protocol]);
        });
      });

      it("names a host that does not resolve in the connect phase, and a URL of another scheme at config time", async () => {
        const url = String(harness.settings.url).replace(/\/\/[^/]+/, "//no-such-broker.invalid:1234");
        const result = await run("websocket", { url, channel: null });
        assert.equal(result.failed_phase, "connect");
        assert.match(result.error!, /cannot resolve the host of no-such-broker\.invalid:1234/);
        const wrongScheme = await parse("websocket", { url: "ftp://127.0.0.1:21/" });
        assert.equal(wrongScheme.success, false);
        assert.match(String(wrongScheme.error), new RegExp(`${escape(protocol)} is reached at .*URLs, not ftp://`));
      });

      it("names a misspelt protocol, listing the valid ones, and an unknown setting of its own block by its field", async () => {
        const misspelt = await parse("websocket", { protocol: `${protocol}x` });
        assert.equal(misspelt.success, false);
        assert.match(String(misspelt.error), /unknown protocol .* \(valid: pulseboard, websocket, socket\.io, mqtt, nats\)/);
        const unknown = await parse("websocket", { [protocol]: { no_such_setting: 1 } });
        assert.equal(unknown.success, false);
        assert.match(JSON.stringify(unknown.error!.issues), /no_such_setting/);
        assert.deepEqual(unknown.error!.issues[0]!.path, [protocol]);
      });

      it("welcomes a small surge of new clients", async () => {
        const result = await run("surge", { connections: 20, rate: 200 }, 4_000);
        assert.equal(result.status, "ok", result.error);
        assert.equal(result.details?.welcomed, 20);
      });

      if (protocol !== "pulseboard") {
        it("keeps a canary beside fresh connections: both fine is ok", async () => {
          const result = await run("safeguard", { ...(harness.nodes ? { nodes: harness.nodes } : {}) }, 3_000, `conformance-safeguard-${protocol}`);
          assert.equal(result.status, "ok", result.error);
        });
      }

      it("counts the clients it held as dropped when the broker is killed mid-run, then fails to connect, naming the phase", async () => {
        const running = run("surge", { connections: 10, rate: 500, hold: "1500ms" }, 4_000);
        await new Promise((resolve) => setTimeout(resolve, 700));
        await harness.kill();
        const result = await running;
        assert.equal(result.status, "degraded", result.error);
        assert.match(result.error!, /10 connections dropped during the hold/);
        if (protocol !== "pulseboard") {
          const canary = await run("safeguard", { ...(harness.nodes ? { nodes: harness.nodes } : {}) }, 3_000, `conformance-safeguard-${protocol}`);
          assert.equal(canary.status, "failed");
          assert.match(canary.error!, /node-0 is down: the canary stopped echoing/);
        }
        const after = await run("websocket", { channel: null });
        assert.equal(after.failed_phase, "connect");
        assert.match(after.error!, /connection refused by 127\.0\.0\.1:\d+/);
      });
    });
  }
}

/** The same URL on another port of this machine. */
function onPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = "127.0.0.1";
  parsed.port = String(port);
  return parsed.toString();
}

async function withSilent(start: () => Promise<SilentServer>, work: (port: number) => Promise<void>): Promise<void> {
  const server = await start();
  try {
    await work(server.port);
  } finally {
    await server.stop();
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
