import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { closeCanaries, openClient, untimed, type RealtimeClient, type RealtimeSettings } from "../../src/probe-runtime/index.ts";
import { startNats, type NatsHarness } from "../helpers/brokers/nats.ts";
import { startPlainWebSocket, type PlainWebSocketHarness } from "../helpers/brokers/plain-websocket.ts";
import { probeRegistry } from "../helpers/config.ts";
import { runKind } from "../helpers/probes.ts";

/**
 * The safeguard kind's verdicts on a broker that is not ours: a canary
 * that keeps echoing beside fresh connections, and the broker's own count
 * where it gives one. The chat outage's lock-up (connected clients fine,
 * every new one turned away) must fail in those words; a broker that is
 * really full is degraded; the same refusals with a count under the limit
 * are the lock-up again.
 */

const targets = { gatewayUrl: "ws://127.0.0.1:1/ws", gatewayNodeUrls: [] };

/** Real clients of the broker, held open until `close`. */
async function hold(settings: Record<string, unknown>, count: number): Promise<RealtimeClient[]> {
  const parsed = (await probeRegistry()).get("websocket")!.configSchema.parse({ ...settings, channel: null }) as RealtimeSettings;
  const clients: RealtimeClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await openClient(parsed, { url: String(settings.url) }, { signal: new AbortController().signal, phase: untimed }));
  return clients;
}

describe("probe kind safeguard on a plain WebSocket server (canary beside fresh connections)", () => {
  let server: PlainWebSocketHarness;
  const run = () => runKind("safeguard", server.settings, { targets, timeoutMs: 2_000, probe: "canary-plain" });

  before(async () => (server = await startPlainWebSocket({ mode: "echo" })));
  after(async () => {
    closeCanaries();
    await server.stop();
  });

  it("is ok while the canary echoes and a new client gets in", async () => {
    const result = await run();
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["canary", "new connections", "load"]);
  });

  it("fails naming the lock-up when the connected canary still echoes and every new connection is dropped, and recovers when it unlocks", async () => {
    assert.equal(await server.toggleLock(), "locked");
    try {
      const locked = await run();
      assert.equal(locked.status, "failed");
      assert.match(
        locked.error!,
        /^node-0: existing clients still work \(the canary echoed in [\d.]+ ms\), but a new connection failed: .*: the safeguard lock-up's signature \(nobody new gets in\); restart the broker$/,
      );
    } finally {
      assert.equal(await server.toggleLock(), "unlocked");
    }
    const unlocked = await run();
    assert.equal(unlocked.status, "ok", unlocked.error);
  });
});

describe("probe kind safeguard on a full plain WebSocket server", () => {
  let server: PlainWebSocketHarness;
  before(async () => (server = await startPlainWebSocket({ mode: "echo", maxClients: 3 })));
  after(async () => {
    closeCanaries();
    await server.stop();
  });

  it("is degraded, saying the server says it is full, when it refuses with 1013 and gives no count", async () => {
    assert.equal((await runKind("safeguard", server.settings, { targets, timeoutMs: 2_000, probe: "canary-full" })).status, "ok");
    const held = await hold(server.settings, 2);
    try {
      const result = await runKind("safeguard", server.settings, { targets, timeoutMs: 2_000, probe: "canary-full" });
      assert.equal(result.status, "degraded", result.error);
      assert.match(result.error!, /^node-0 says it is full and refuses new clients while existing clients still work .* was refused: close 1013 "server full, retry after 2000 ms"/);
    } finally {
      for (const client of held) client.close();
    }
  });
});

describe("probe kind safeguard on nats-server at its max_connections (count from /varz)", () => {
  let nats: NatsHarness;
  let held: RealtimeClient[] = [];
  const settings = () => ({ ...nats.settings, url: nats.tcpUrls[0]! });

  before(async () => {
    nats = await startNats({ nodes: 1, maxConnections: 4 });
    // The canary first, so it is among the four.
    assert.equal((await runKind("safeguard", settings(), { targets, timeoutMs: 2_000, probe: "canary-nats" })).status, "ok");
    held = await hold(settings(), 3);
  });
  after(async () => {
    for (const client of held) client.close();
    closeCanaries();
    await nats.stop();
  });

  it("is degraded (full) when the server's count is at its own limit", async () => {
    const result = await runKind("safeguard", settings(), { targets, timeoutMs: 2_000, probe: "canary-nats" });
    assert.equal(result.status, "degraded", result.error);
    assert.match(result.error!, /^node-0 is full: 4 of 4 connections \(\/varz\); it refuses new clients while existing clients still work .* was refused: -ERR 'maximum connections exceeded'/);
  });

  it("fails naming the lock-up when the same refusals come under the limit the probe is told", async () => {
    const result = await runKind("safeguard", { ...settings(), max_connections: 20 }, { targets, timeoutMs: 2_000, probe: "canary-nats" });
    assert.equal(result.status, "failed");
    assert.match(result.error!, /^node-0 refuses new connections with room to spare \(4 of 20 connections \(\/varz\)\) while existing clients still work .*: the safeguard lock-up; restart the broker/);
  });
});
