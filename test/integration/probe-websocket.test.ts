import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets } from "../../src/probe-runtime/index.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";
import { TestClient } from "../helpers/ws-client.ts";

describe("probe kind websocket (real gateway node)", () => {
  let gateway: TestNode;
  let full: TestNode;
  let targets: PlatformTargets;
  const kept: TestClient[] = [];
  const run = (settings: Record<string, unknown>, timeoutMs = 2_000, over: Partial<PlatformTargets> = {}) =>
    runKind("websocket", settings, { targets: { ...targets, ...over }, timeoutMs });

  before(async () => {
    gateway = await startTestNode({ yaml: "  faults: true\n" });
    full = await startTestNode({ index: 1, yaml: "  max_connections: 2\n" });
    targets = { gatewayUrl: gateway.url, gatewayNodeUrls: [gateway.url] };
    for (let i = 0; i < 2; i++) {
      const client = await TestClient.connect(full.url);
      await client.next((f) => f.type === "welcome");
      kept.push(client);
    }
  });
  after(async () => {
    for (const client of kept) client.close();
    await gateway.node.stop();
    await full.node.stop();
  });

  it("passes on a healthy gateway, timing every phase, and echoes on the channel", async () => {
    const result = await run({ channel: "probe.test" });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "upgrade", "welcome", "subscribe", "echo"]);
    assert.deepEqual(result.details, { url: gateway.url, protocol: "pulseboard", node: "node-0", channel: "probe.test" });
  });

  it("with channel: null only connects and waits for the welcome", async () => {
    const result = await run({ channel: null });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "upgrade", "welcome"]);
  });

  it("fails in the connect phase when nothing listens, saying so", async () => {
    const port = await freePort();
    const result = await run({ url: `ws://127.0.0.1:${port}/ws` });
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "connect");
    assert.match(result.error!, new RegExp(`connection refused by 127.0.0.1:${port}`));
  });

  it("fails with the gateway's refusal and its retry hint when the node is at max_connections", async () => {
    const result = await run({ channel: null }, 2_000, { gatewayUrl: full.url });
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "welcome");
    assert.match(result.error!, /refused the connection: over capacity, "the node is at its connection limit; retry in \d+ ms"/);
    assert.match(result.error!, /close 1013|it tells clients to retry after \d+ ms/);
    assert.match(result.error!, /retry after \d+ ms/);
  });

  it("fails with the refusal when the node's safeguard is locked (lock-safeguard fault)", async () => {
    gateway.node.fault({ fault: "lock-safeguard", ms: 10_000 });
    try {
      const result = await run({});
      assert.equal(result.status, "failed");
      assert.equal(result.failed_phase, "welcome");
      assert.match(result.error!, /refused the connection: over capacity, "the node refuses new connections; retry in \d+ ms"/);
    } finally {
      gateway.node.fault({ fault: "clear" });
    }
  });

  it("a handshake that never finishes (slow-handshake fault) fails at the deadline during upgrade", async () => {
    gateway.node.fault({ fault: "slow-handshake", ms: 10_000, delayMs: 1_500 });
    try {
      const started = Date.now();
      const result = await run({}, 700);
      assert.equal(result.status, "failed");
      assert.equal(result.failed_phase, "upgrade");
      assert.equal(result.error, "timed out after 700 ms during upgrade");
      const took = Date.now() - started;
      assert.ok(took >= 650 && took < 3_500, `the 700 ms deadline held: failed after ${took} ms`);
    } finally {
      gateway.node.fault({ fault: "clear" });
    }
  });

  it("a server that accepts TCP but never upgrades times out in the upgrade phase", async () => {
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const result = await run({ url: `ws://127.0.0.1:${port}/ws` }, 500);
      assert.equal(result.failed_phase, "upgrade");
      assert.match(result.error!, /timed out after 500 ms during upgrade/);
    } finally {
      silent.close();
      silent.unref();
    }
  });

  it("leaves no socket or timer behind after passes, refusals and timeouts", async () => {
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentUrl = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/ws`;
    const refusedUrl = `ws://127.0.0.1:${await freePort()}/ws`;
    try {
      const baseline = activeResources();
      const results = await Promise.all([
        ...Array.from({ length: 5 }, () => run({ channel: "probe.leak" })),
        ...Array.from({ length: 5 }, () => run({ url: silentUrl }, 300)),
        ...Array.from({ length: 5 }, () => run({ url: refusedUrl })),
        ...Array.from({ length: 5 }, () => run({ channel: null }, 2_000, { gatewayUrl: full.url })),
      ]);
      assert.deepEqual(
        results.map((r) => r.failed_phase ?? r.status),
        [...Array(5).fill("ok"), ...Array(5).fill("upgrade"), ...Array(5).fill("connect"), ...Array(5).fill("welcome")],
      );
      await expectNoLeak(baseline);
    } finally {
      silent.close();
    }
  });
});
