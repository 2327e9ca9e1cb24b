import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import type { GatewayNode } from "../../src/gateway/index.ts";
import { fuzzSeed, randomJson, randomText, Rng, spoil } from "../helpers/fuzz.ts";
import { startTestNode } from "../helpers/gateway.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { TestClient } from "../helpers/ws-client.ts";

const CODES = new Set(["bad_frame", "frame_too_large", "bad_channel", "rate_limited", "too_many_subscriptions", "cache_unavailable", "overloaded", "over_capacity"]);
const VALID = [
  { type: "subscribe", channel: "fuzz.room", id: "s" },
  { type: "subscribe", channel: "fuzz.room", since: "abc:1", id: "r" },
  { type: "unsubscribe", channel: "fuzz.room" },
  { type: "publish", channel: "fuzz.room", data: { hello: 1 }, id: 7 },
  { type: "ping", id: "p" },
];

/** Sends `frames` on one connection; what came back (frames, or the close code). */
function session(url: string, frames: (string | Buffer)[]): Promise<{ replies: Record<string, unknown>[]; closed?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 1 << 20 });
    const replies: Record<string, unknown>[] = [];
    let closed: number | undefined;
    ws.on("message", (raw) => replies.push(JSON.parse(raw.toString()) as Record<string, unknown>));
    ws.on("error", () => {});
    ws.on("close", (code) => {
      closed = code;
      resolve({ replies, closed });
    });
    ws.once("open", () => {
      for (const frame of frames) ws.send(frame, { binary: Buffer.isBuffer(frame) });
      ws.send(JSON.stringify({ type: "ping", id: "end-of-fuzz" }));
    });
    ws.on("message", (raw) => {
      if (raw.toString().includes('"end-of-fuzz"')) {
        ws.close();
      }
    });
    setTimeout(() => (ws.readyState === WebSocket.CLOSED ? undefined : (ws.terminate(), reject(new Error("a fuzz session did not end within 10 s")))), 10_000).unref();
  });
}

describe("gateway protocol under generated bad frames (real WebSocket, real cache Redis)", () => {
  let redis: TestRedis;
  let node: GatewayNode;
  let url: string;

  before(async () => {
    redis = await startRedis();
    ({ node, url } = await startTestNode({ cacheUrl: redis.url, yaml: "  heartbeat: 60s\n  max_payload: 4KiB" }));
  });
  after(async () => {
    await node.stop();
    await redis.stop();
  });

  it("answers 5,000 bad frames over many connections with stable error codes or a 1008/1009 close, and still serves", async () => {
    const seed = fuzzSeed();
    const rng = new Rng(seed);
    let errors = 0;
    let policyCloses = 0;
    for (let s = 0; s < 100; s++) {
      const frames: (string | Buffer)[] = [];
      for (let i = 0; i < 50; i++) {
        const kind = rng.int(6);
        if (kind === 0) frames.push(randomText(rng));
        else if (kind === 1) frames.push(Buffer.from(randomText(rng)));
        else if (kind === 2) frames.push(JSON.stringify(randomJson(rng, 3)) ?? "null");
        else if (kind === 3) frames.push("x".repeat(4_096 + rng.int(10_000)));
        else frames.push(JSON.stringify(spoil(rng, rng.pick(VALID) as Record<string, unknown>)));
      }
      const { replies, closed } = await session(url, frames);
      const where = `seed ${seed}, session ${s}`;
      for (const reply of replies) {
        assert.ok(typeof reply.type === "string", where);
        if (reply.type === "error") {
          errors++;
          assert.ok(CODES.has(reply.code as string), `${where}: unknown error code ${JSON.stringify(reply).slice(0, 200)}`);
          assert.ok(typeof reply.message === "string" && (reply.message as string).length < 500, where);
        }
      }
      assert.ok(closed === 1000 || closed === 1005 || closed === 1008 || closed === 1009, `${where}: closed with ${closed}`);
      if (closed === 1008) policyCloses++;
    }
    assert.ok(errors > 500, `error frames were sent (${errors}; seed ${seed})`);
    assert.ok(policyCloses > 0, `repeated abuse closed some connections with 1008 (seed ${seed})`);

    // The node is whole: a well-behaved client subscribes, publishes and gets its message.
    const client = await TestClient.connect(url);
    await client.next((f) => f.type === "welcome");
    client.send({ type: "subscribe", channel: "after.fuzz", id: "s" });
    await client.next((f) => f.type === "subscribed");
    client.send({ type: "publish", channel: "after.fuzz", data: { ok: true }, id: "p" });
    assert.deepEqual((await client.next((f) => f.type === "message")).data, { ok: true });
    client.close();
    const stats = node.stats();
    assert.ok(stats.connections <= 1, `no connection left behind: ${stats.connections}`);
  });
});
