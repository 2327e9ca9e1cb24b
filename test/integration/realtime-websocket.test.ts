import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { defineProbe, openClient, realtimeSettings, refusalOf, runProbe, type ProbeContext, type ProbeReport, type ProbeResult, type RealtimeSettings } from "../../src/probe-runtime/index.ts";
import type { PlainWebSocketClient } from "../../src/probe-runtime/realtime/websocket.ts";
import { PLAIN_WS_TOKEN, startPlainWebSocket, type PlainWebSocketHarness } from "../helpers/brokers/plain-websocket.ts";
import { testLog } from "../helpers/config.ts";
import { activeResources, expectNoLeak } from "../helpers/probes.ts";
import { waitFor } from "../helpers/wait.ts";

/** The `with:` of a probe on the plain WebSocket adapter, as a kind's schema parses it. */
const withSchema = realtimeSettings("adapter-test", [], {});

type Work = (client: PlainWebSocketClient, ctx: ProbeContext) => Promise<ProbeReport | void>;

/**
 * One run through the real probe runner (hard deadline, phases named in the
 * failure): connects with `settings`, then does `work` with the client.
 * `connectError` is what the adapter's connect threw, as thrown.
 */
async function run(settings: Record<string, unknown>, work: Work = async () => {}, timeoutMs = 2_000): Promise<ProbeResult & { connectError?: unknown }> {
  const parsed = withSchema.parse({ protocol: "websocket", ...settings }) as RealtimeSettings;
  let connectError: unknown;
  const probe = defineProbe({
    kind: "adapter-test",
    description: "connects through the plain WebSocket adapter",
    configSchema: withSchema,
    async run(_settings, ctx) {
      const client = (await openClient(parsed, { url: parsed.url! }, ctx).catch((err: unknown) => {
        throw (connectError = err);
      })) as PlainWebSocketClient;
      try {
        return (await work(client, ctx)) ?? { status: "ok" };
      } finally {
        client.close();
      }
    },
  });
  const result = await runProbe(probe, parsed, { probe: "adapter-test", location: "local", timeoutMs, targets: { gatewayUrl: "ws://127.0.0.1:9/", gatewayNodeUrls: [] }, log: testLog() });
  return { ...result, connectError };
}

/** A server that accepts TCP, reads the upgrade request and never answers it; `stop` destroys what it accepted. */
async function hungServer(): Promise<{ url: string; sockets: Set<net.Socket>; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    sockets,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const ok = (result: ProbeResult): void => assert.equal(result.status, "ok", result.error);
const NONCE = /^[0-9a-f]{16}$/;

describe("realtime adapter websocket (real ws servers)", { timeout: 40_000 }, () => {
  let echo: PlainWebSocketHarness;
  let greeter: PlainWebSocketHarness;
  let chat: PlainWebSocketHarness;
  let full: PlainWebSocketHarness;

  before(async () => {
    [echo, greeter, chat, full] = await Promise.all([
      startPlainWebSocket({ mode: "echo" }),
      startPlainWebSocket({ mode: "speaks-first", token: "" }),
      startPlainWebSocket({ mode: "chat", token: "" }),
      startPlainWebSocket({ mode: "echo", token: "", maxClients: 1 }),
    ]);
  });
  after(async () => {
    await Promise.all([echo, greeter, chat, full].map((h) => h?.stop()));
  });

  it("sends with a fresh nonce each time and takes only the echo of the last send as the answer", async () => {
    const result = await run({ ...echo.settings, subprotocol: "demo.v1" }, async (client) => {
      assert.deepEqual(client.info, { subprotocol: "demo.v1" });
      assert.equal(client.connectOnly, false);
      await client.subscribe("answers");
      await client.subscribe("watch");
      await client.publish("answers", "ignored: send is set");
      const first = client.sent!;
      assert.match(first, /^ping [0-9a-f]{16}$/);
      assert.ok(await client.next("watch", (m) => m.text === first, 1_000), "the first echo came (on every channel)");
      await client.publish("answers", "ignored");
      const second = client.sent!;
      assert.notEqual(second, first, "a fresh nonce per send");
      const answer = await client.next("answers", (m) => client.matches(m), 1_000);
      assert.equal(answer?.text, second, "the answer is the second echo, though the first is queued before it");
      assert.deepEqual(client.takeAll("answers").map((m) => m.text), [first], "the first echo stays, not taken as the answer");
      assert.equal(client.expected, `an echo of ${JSON.stringify(second)}`);
    });
    ok(result);
    assert.deepEqual(Object.keys(result.phases), ["connect", "upgrade"]);
  });

  it("hears a server that speaks first, on a channel subscribed later, matched by a regex and by a JSON subset", async () => {
    ok(
      await run({ url: greeter.url, websocket: { expect: '^\\{"type":"hello"' } }, async (client) => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await client.subscribe("greeting");
        const hello = await client.next("greeting", (m) => client.matches(m), 1_000);
        assert.deepEqual(hello?.payload, { type: "hello", server: "demo" });
      }),
    );
    ok(
      await run({ url: greeter.url, websocket: { expect: { type: "hello" } } }, async (client) => {
        await client.subscribe("greeting");
        const hello = await client.next("greeting", (m) => client.matches(m), 1_000);
        assert.equal(hello?.text, '{"type":"hello","server":"demo"}');
        assert.equal(client.expected, 'JSON containing {"type":"hello"}');
      }),
    );
  });

  it("fills {{nonce}} into nested values of a JSON send and of a JSON-subset expect", async () => {
    const send = { type: "say", id: "{{nonce}}", body: { text: "hi {{nonce}}", tags: ["probe", "{{nonce}}"] } };
    const expect = { type: "ack", id: "{{nonce}}", received: { body: { tags: ["probe", "{{nonce}}"] } } };
    ok(
      await run({ url: chat.url, websocket: { send, expect } }, async (client) => {
        // No subscribe, as kinds do on a protocol without channels: next names the queue.
        await client.publish("chat", null);
        const sent = JSON.parse(client.sent!) as typeof send;
        assert.match(sent.id, NONCE);
        assert.deepEqual(sent.body, { text: `hi ${sent.id}`, tags: ["probe", sent.id] });
        const ack = await client.next("chat", (m) => client.matches(m), 1_000);
        assert.deepEqual(ack?.payload, { type: "ack", id: sent.id, received: sent });
      }),
    );
  });

  it("does not take an answer that arrives but fails expect", async () => {
    ok(
      await run({ ...echo.settings, websocket: { send: "ping {{nonce}}", expect: "^pong {{nonce}}$" } }, async (client) => {
        await client.subscribe("a");
        await client.publish("a", null);
        const nonce = client.sent!.slice("ping ".length);
        assert.equal(await client.next("a", (m) => client.matches(m), 300), undefined, "the echo is no pong");
        const arrived = client.takeAll("a");
        assert.deepEqual(arrived.map((m) => m.text), [client.sent], "the echo did arrive");
        assert.equal(client.expected, `text matching /^pong ${nonce}$/`);
        assert.equal(client.matches({ ...arrived[0]!, text: `pong ${nonce}` }), true, "the answer it does expect would match");
      }),
    );
    ok(
      await run({ url: greeter.url, websocket: { expect: { type: "hello", server: "other" } } }, async (client) => {
        await client.subscribe("g");
        assert.equal(await client.next("g", (m) => client.matches(m), 300), undefined, "a hello from another server is not it");
        assert.equal(client.takeAll("g").length, 1);
      }),
    );
  });

  it("fails the upgrade of a wrong bearer with HTTP 401, never quoting the token", async () => {
    const result = await run(echo.wrongAuth!.settings);
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, echo.wrongAuth!.phase);
    assert.match(result.error!, /upgrade: 127\.0\.0\.1:\d+ refused the WebSocket upgrade \(HTTP 401\)/);
    assert.ok(!result.error!.includes(PLAIN_WS_TOKEN));
    ok(await run(echo.settings));
  });

  it("fails at the deadline in upgrade when the server accepts TCP and never answers the upgrade", async () => {
    const hung = await hungServer();
    try {
      const result = await run({ url: hung.url, websocket: { send: "hi" } }, undefined, 600);
      assert.equal(result.status, "failed");
      assert.equal(result.failed_phase, "upgrade");
      assert.match(result.error!, /timed out after 600 ms during upgrade/);
      assert.equal(hung.sockets.size, 1);
      await waitFor("the probe to drop its socket", () => [...hung.sockets].every((s) => s.destroyed), 2_000, 20);
    } finally {
      await hung.stop();
    }
  });

  it("is refused, full, in upgrade when the server upgrades and closes with 1013, with its retry hint", async () => {
    const held = await run({ url: full.url, websocket: { send: "first" } }, async () => {
      const result = await run({ url: full.url, websocket: { send: "second" } });
      assert.equal(result.status, "failed");
      assert.equal(result.failed_phase, "upgrade");
      assert.match(result.error!, /^upgrade: 127\.0\.0\.1:\d+ refused the connection: close 1013 "server full, retry after 2000 ms" \(try again later\); it tells clients to retry after 2000 ms$/);
      assert.deepEqual(refusalOf(result.connectError), { message: 'close 1013 "server full, retry after 2000 ms"', full: true, retryAfterMs: 2000 });
      const connectOnly = await run({ url: full.url });
      assert.equal(connectOnly.failed_phase, "upgrade", "only connecting is refused too");
      assert.equal(refusalOf(connectOnly.connectError)?.full, true);
    });
    ok(held);
    ok(await run({ url: full.url }));
  });

  it("fails a connection the server drops with close 1006, then fails to connect in connect, naming the target", async () => {
    const doomed = await startPlainWebSocket({ token: "" });
    try {
      const result = await run({ url: doomed.url, websocket: { send: "x" } }, async (client) => {
        await client.subscribe("a");
        await doomed.kill();
        await assert.rejects(client.next("a", () => true, 2_000), /127\.0\.0\.1:\d+ closed the connection: close 1006 \(dropped without a close frame\)/);
        assert.equal(client.refusal, undefined, "a drop is no refusal");
        await assert.rejects(client.publish("a", "y"), /close 1006/);
      });
      ok(result);
      const after = await run({ url: doomed.url });
      assert.equal(after.failed_phase, "connect");
      assert.match(after.error!, /connect: connection refused by 127\.0\.0\.1:\d+/);
    } finally {
      await doomed.stop();
    }
  });

  it("validates its settings block, naming the field", () => {
    const issues = (block: Record<string, unknown>) => {
      const parsed = withSchema.safeParse({ protocol: "websocket", url: echo.url, websocket: block });
      assert.equal(parsed.success, false, JSON.stringify(block));
      return parsed.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n");
    };
    assert.match(issues({ send: "x", expect: "ping (" }), /^websocket\.expect: expect is not a valid regular expression \(Invalid regular expression: .*Unterminated group\)/);
    assert.match(issues({ send: "x", connect_only: true }), /^websocket\.connect_only: connect_only: true only connects, so send would never be used/);
    assert.match(issues({ expect: "^pong {{nonce}}$" }), /^websocket\.expect: expect uses \{\{nonce\}\}, but nothing is sent/);
    assert.match(issues({ send: "ping", expect: { id: "{{nonce}}" } }), /^websocket\.expect: expect uses \{\{nonce\}\}, but send does not contain it/);
    assert.match(issues({ send: 42 }), /^websocket\.send: expected a string, or a JSON object or array/);
    assert.match(issues({ refusal_window: "soon" }), /^websocket\.refusal_window: expected a duration like "10ms"/);
    const parse = (block?: Record<string, unknown>) => (withSchema.parse({ protocol: "websocket", url: echo.url, ...(block ? { websocket: block } : {}) }) as RealtimeSettings).protocolSettings;
    assert.deepEqual(parse(), { connect_only: true, refusal_window: 10 }, "neither send nor expect: only connects");
    assert.deepEqual(parse({ send: { a: ["{{nonce}}"] }, refusal_window: "5ms" }), { send: { a: ["{{nonce}}"] }, connect_only: false, refusal_window: 5 });
  });

  it("leaves no socket or timer behind, whether a run passes, is refused or hits its deadline", async () => {
    const hung = await hungServer();
    const baseline = activeResources();
    const results = await Promise.all([
      run(echo.settings, async (client) => {
        await client.subscribe("a");
        await client.publish("a", null);
        assert.ok(await client.next("a", (m) => client.matches(m), 1_000));
      }),
      run(echo.wrongAuth!.settings),
      run({ url: full.url }, async () => {
        assert.equal((await run({ url: full.url })).failed_phase, "upgrade");
      }),
      run({ url: chat.url, websocket: { send: { id: "{{nonce}}" }, expect: { id: "never" } } }, async (client) => {
        await client.subscribe("c");
        await client.publish("c", null);
        await client.next("c", (m) => client.matches(m), 5_000);
      }, 400),
      run({ url: hung.url }, undefined, 300),
    ]);
    assert.deepEqual(
      results.map((r) => [r.status, r.failed_phase]),
      [["ok", undefined], ["failed", "upgrade"], ["ok", undefined], ["failed", undefined], ["failed", "upgrade"]],
    );
    await hung.stop();
    await expectNoLeak(baseline);
  });
});
