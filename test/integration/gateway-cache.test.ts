import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { TestClient } from "../helpers/ws-client.ts";
import { waitFor } from "../helpers/wait.ts";

const YAML = "  publish_rate: 100000\n  publish_burst: 100000\n  cache_timeout: 300ms";

/** Reads an SSE stream into parsed events until stopped. */
function openSse(url: string, headers: Record<string, string> = {}) {
  const events: { event?: string; id?: string; data: string }[] = [];
  let request!: http.ClientRequest;
  const ready = new Promise<number>((resolve, reject) => {
    request = http.get(url, { headers }, (res) => {
      resolve(res.statusCode ?? 0);
      let buffer = "";
      res.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: { event?: string; id?: string; data: string } = { data: "" };
          for (const line of block.split("\n")) {
            const [field, ...rest] = line.split(": ");
            if (field === "event") event.event = rest.join(": ");
            if (field === "id") event.id = rest.join(": ");
            if (field === "data") event.data = rest.join(": ");
          }
          if (event.data) events.push(event);
        }
      });
    });
    request.on("error", reject);
  });
  return { events, ready, close: () => request.destroy() };
}

async function post(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("gateway cache modes and the SSE fallback (real redis-server)", () => {
  let redis: TestRedis;
  let node: TestNode;

  before(async () => {
    redis = await startRedis();
    node = await startTestNode({ cacheUrl: redis.url, yaml: YAML });
  });
  after(async () => {
    await node.node.stop();
    await redis.stop();
  });

  it("switches cache mode under traffic without dropping a connection or a delivery", async () => {
    const subscribers = await Promise.all([1, 2, 3].map(() => TestClient.connect(node.url)));
    for (const client of subscribers) {
      client.send({ type: "subscribe", channel: "live" });
      await client.next((f) => f.type === "subscribed");
    }
    const publisher = await TestClient.connect(node.url);
    let sent = 0;
    let acked = 0;
    publisher.ws.on("message", (raw) => {
      if (JSON.parse(raw.toString()).type === "ack") acked++;
    });
    const traffic = setInterval(() => {
      for (let i = 0; i < 5; i++) publisher.send({ type: "publish", channel: "live", data: { n: sent++ } });
    }, 5);
    try {
      for (const mode of ["bypass", "normal", "bypass", "normal"] as const) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await node.node.setCacheMode(mode);
        assert.equal(node.node.stats().mode, mode);
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    } finally {
      clearInterval(traffic);
    }
    await waitFor("every publish to be acked", () => acked === sent, 5_000);
    await waitFor("every subscriber to receive every message", () => subscribers.every((c) => c.frames.filter((f) => f.type === "message").length === sent), 5_000);
    for (const client of subscribers) {
      assert.equal(client.closedWith, undefined, "no connection dropped");
      const numbers = client.takeMessages("live").map((m) => (m.data as { n: number }).n);
      assert.deepEqual(numbers, [...Array(sent).keys()], "in order, none lost or repeated");
    }
    assert.equal(node.node.stats().connections, 4);
    for (const client of [...subscribers, publisher]) client.close();
  });

  it("with the cache paused, normal mode fails publishes fast; bypass mode serves fully", async () => {
    const subscriber = await TestClient.connect(node.url);
    subscriber.send({ type: "subscribe", channel: "paused" });
    await subscriber.next((f) => f.type === "subscribed");
    const publisher = await TestClient.connect(node.url);
    await redis.pause(4_000);
    try {
      const started = Date.now();
      publisher.send({ type: "publish", channel: "paused", data: 1, id: "during-pause" });
      const error = await publisher.next((f) => f.type === "error" || f.type === "ack", 3_500);
      const took = Date.now() - started;
      assert.equal(error.type, "error");
      assert.equal(error.code, "cache_unavailable");
      assert.equal(error.id, "during-pause");
      assert.ok(took >= 250 && took < 1_500, `failed after ${took} ms with a 300 ms cache timeout`);
      assert.equal(publisher.closedWith, undefined);

      await node.node.setCacheMode("bypass");
      publisher.send({ type: "publish", channel: "paused", data: 2, id: "bypassed" });
      assert.equal((await publisher.next((f) => f.type === "ack" || f.type === "error")).type, "ack");
      const message = await subscriber.next((f) => f.type === "message");
      assert.equal(message.data, 2);
      const late = await TestClient.connect(node.url);
      late.send({ type: "subscribe", channel: "fresh", id: "s" });
      assert.equal((await late.next((f) => f.type === "subscribed" || f.type === "error")).type, "subscribed");
      late.close();
      await assert.rejects(node.node.setCacheMode("normal"), /cannot switch to normal mode/, "no way back while the cache is paused");
      assert.equal(node.node.stats().mode, "bypass");
    } finally {
      await waitFor("the cache to answer again", async () => (await redis.client.ping()) === "PONG", 6_000);
      await node.node.setCacheMode("normal");
    }
    subscriber.close();
    publisher.close();
  });

  it("streams a channel over SSE with the serial as event id, and resumes from Last-Event-ID", async () => {
    const stream = openSse(`${node.httpUrl}/sse?channel=news`);
    assert.equal(await stream.ready, 200);
    await waitFor("the subscribed event", () => stream.events.some((e) => e.event === "subscribed"));
    const serials: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(`${node.httpUrl}/publish`, { channel: "news", data: { i } });
      assert.equal(res.status, 200);
      serials.push(res.body.serial as string);
    }
    await waitFor("three messages", () => stream.events.filter((e) => !e.event).length === 3);
    const messages = stream.events.filter((e) => !e.event);
    assert.deepEqual(messages.map((e) => e.id), serials);
    assert.deepEqual(messages.map((e) => JSON.parse(e.data).data.i), [0, 1, 2]);
    stream.close();

    await post(`${node.httpUrl}/publish`, { channel: "news", data: { i: 3 } });
    await post(`${node.httpUrl}/publish`, { channel: "news", data: { i: 4 } });
    const resumed = openSse(`${node.httpUrl}/sse?channel=news`, { "last-event-id": serials[0]! });
    await waitFor("the replayed messages", () => resumed.events.filter((e) => !e.event).length === 4);
    const subscribed = JSON.parse(resumed.events.find((e) => e.event === "subscribed")!.data);
    assert.equal(subscribed.recovered, true);
    assert.deepEqual(resumed.events.filter((e) => !e.event).map((e) => JSON.parse(e.data).data.i), [1, 2, 3, 4]);
    resumed.close();
  });

  it("refuses bad SSE and publish requests with a code that names the problem", async () => {
    assert.equal((await fetch(`${node.httpUrl}/sse?channel=bad%20name`)).status, 400);
    const noChannel = await post(`${node.httpUrl}/publish`, { data: 1 });
    assert.equal(noChannel.status, 400);
    assert.equal(noChannel.body.code, "bad_channel");
    const extra = await post(`${node.httpUrl}/publish`, { channel: "x", data: 1, evil: true });
    assert.equal(extra.status, 400);
    const bad = await fetch(`${node.httpUrl}/publish`, { method: "POST", body: "{nope" });
    assert.equal(bad.status, 400);
    const big = await post(`${node.httpUrl}/publish`, { channel: "x", data: "y".repeat(70_000) });
    assert.equal(big.status, 413);
    assert.equal((await fetch(`${node.httpUrl}/nowhere`)).status, 404);
  });
});
