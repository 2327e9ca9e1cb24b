import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { TestClient } from "../helpers/ws-client.ts";
import { waitFor } from "../helpers/wait.ts";

const FAST = "  publish_rate: 100000\n  publish_burst: 100000\n";

/** Publishes `count` messages on one connection and waits for every ack. */
async function publishMany(client: TestClient, channel: string, count: number, from = 0): Promise<string[]> {
  for (let i = from; i < from + count; i++) client.send({ type: "publish", channel, data: { n: i }, id: `p${i}` });
  const serials: string[] = [];
  for (let i = 0; i < count; i++) serials.push((await client.next((f) => f.type === "ack" || f.type === "error", 10_000)).serial as string);
  return serials;
}

describe("gateway: cross-node fan-out and resume through the cache Redis", () => {
  let redis: TestRedis;
  let nodeA: TestNode;
  let nodeB: TestNode;
  const clients: TestClient[] = [];
  const connect = async (url: string, node?: string) => {
    const client = await TestClient.connect(url);
    clients.push(client);
    const welcome = await client.next((f) => f.type === "welcome");
    if (node) assert.equal(welcome.node, node);
    return client;
  };

  before(async () => {
    redis = await startRedis();
    nodeA = await startTestNode({ index: 0, cacheUrl: redis.url, yaml: `${FAST}  history: { size: 1000 }\n` });
    nodeB = await startTestNode({ index: 1, cacheUrl: redis.url, yaml: `${FAST}  history: { size: 1000 }\n` });
  });
  after(async () => {
    for (const client of clients) client.close();
    await nodeA.node.stop();
    await nodeB.node.stop();
    await redis.stop();
  });

  it("delivers a message published on node B to a subscriber on node A, in order", async () => {
    const subscriber = await connect(nodeA.url, "node-0");
    const publisher = await connect(nodeB.url, "node-1");
    subscriber.send({ type: "subscribe", channel: "room.x", id: "s" });
    const subscribed = await subscriber.next((f) => f.type === "subscribed");
    assert.equal(subscribed.recovered, false);
    const serials = await publishMany(publisher, "room.x", 20);
    const received = [];
    for (let i = 0; i < 20; i++) received.push(await subscriber.next((f) => f.type === "message"));
    assert.deepEqual(received.map((m) => (m.data as { n: number }).n), [...Array(20).keys()]);
    assert.deepEqual(received.map((m) => m.serial), serials);
  });

  it("resumes after a disconnect during which 1,000 messages were published: all once, in order, recovered:true", async () => {
    const first = await connect(nodeA.url);
    first.send({ type: "subscribe", channel: "chat.1" });
    await first.next((f) => f.type === "subscribed");
    const publisher = await connect(nodeB.url);
    await publishMany(publisher, "chat.1", 5);
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await first.next((f) => f.type === "message"));
    const last = seen.at(-1)!.serial as string;
    first.close();

    const missed = await publishMany(publisher, "chat.1", 1_000, 5);
    // Resume on the other node: history lives in the cache, not in a node.
    const second = await connect(nodeB.url);
    second.send({ type: "subscribe", channel: "chat.1", since: last, id: "resume" });
    const subscribed = await second.next((f) => f.type === "subscribed");
    assert.equal(subscribed.recovered, true);
    assert.equal(subscribed.serial, missed.at(-1));
    await waitFor("1,000 replayed messages", () => second.frames.filter((f) => f.type === "message").length >= 1_000, 10_000);
    await publishMany(publisher, "chat.1", 1, 1_005);
    await waitFor("the live message after the replay", () => second.frames.filter((f) => f.type === "message").length >= 1_001, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const messages = second.takeMessages("chat.1");
    assert.equal(messages.length, 1_001, "nothing repeated");
    assert.deepEqual(messages.map((m) => (m.data as { n: number }).n), Array.from({ length: 1_001 }, (_, i) => i + 5));
    assert.deepEqual(messages.slice(0, 1_000).map((m) => m.serial), missed);
  });

  it("says recovered:false when the position has left history, and replays nothing", async () => {
    const small = await startTestNode({ index: 2, cacheUrl: redis.url, yaml: `${FAST}  history: { size: 10 }\n` });
    try {
      const publisher = await connect(small.url);
      const [first] = await publishMany(publisher, "short", 1);
      await publishMany(publisher, "short", 200, 1);
      const client = await connect(small.url);
      client.send({ type: "subscribe", channel: "short", since: first });
      const subscribed = await client.next((f) => f.type === "subscribed");
      assert.equal(subscribed.recovered, false);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(client.takeMessages("short").length, 0);
    } finally {
      await small.node.stop();
    }
  });

  it("says recovered:false after the cache lost its data (a new epoch), and serials change epoch", async () => {
    const publisher = await connect(nodeA.url);
    const [serial] = await publishMany(publisher, "fragile", 1);
    await redis.client.flushall();
    const client = await connect(nodeA.url);
    client.send({ type: "subscribe", channel: "fragile", since: serial });
    const subscribed = await client.next((f) => f.type === "subscribed");
    assert.equal(subscribed.recovered, false);
    const [next] = await publishMany(publisher, "fragile", 1);
    assert.notEqual(next!.split(":")[0], serial!.split(":")[0]);
    assert.equal(next!.split(":")[1], "1");
  });

  it("treats a since it never issued as unrecoverable", async () => {
    const client = await connect(nodeA.url);
    client.send({ type: "subscribe", channel: "room.x", since: "not-a-serial!" });
    assert.equal((await client.next((f) => f.type === "subscribed")).recovered, false);
  });
});
