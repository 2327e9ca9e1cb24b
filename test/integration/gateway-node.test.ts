import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { GatewayNode } from "../../src/gateway/index.ts";
import { startTestNode } from "../helpers/gateway.ts";
import { TestClient } from "../helpers/ws-client.ts";

describe("gateway node (real WebSocket connections)", () => {
  let node: GatewayNode;
  let url: string;
  let ownUrl: string;

  before(async () => {
    const started = await startTestNode({ yaml: "  heartbeat: 60s" });
    node = started.node;
    url = started.url;
    ownUrl = started.url;
  });
  after(async () => node.stop());

  it("greets with a welcome frame naming the node and connection", async () => {
    const client = await TestClient.connect(url);
    const welcome = await client.next();
    assert.equal(welcome.type, "welcome");
    assert.equal(welcome.node, "node-0");
    assert.equal(typeof welcome.connection, "string");
    assert.equal(welcome.heartbeat, 60_000);
    client.close();
  });

  it("delivers a published message to subscribers, in order, with increasing serials, and acks", async () => {
    const subscriber = await TestClient.connect(url);
    const publisher = await TestClient.connect(ownUrl);
    subscriber.send({ type: "subscribe", channel: "room.1", id: "s" });
    const subscribed = await subscriber.next((f) => f.type === "subscribed");
    assert.equal(subscribed.id, "s");
    for (let i = 0; i < 5; i++) publisher.send({ type: "publish", channel: "room.1", data: { n: i }, id: `p${i}` });
    const serials: string[] = [];
    for (let i = 0; i < 5; i++) {
      const message = await subscriber.next((f) => f.type === "message");
      assert.deepEqual(message.data, { n: i });
      serials.push(message.serial as string);
      const ack = await publisher.next((f) => f.type === "ack");
      assert.equal(ack.id, `p${i}`);
      assert.equal(ack.serial, message.serial);
    }
    const offsets = serials.map((s) => Number(s.split(":")[1]));
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
    assert.equal(new Set(serials).size, 5);
    subscriber.close();
    publisher.close();
  });

  it("answers a bad frame with an error frame and keeps the connection", async () => {
    const client = await TestClient.connect(url);
    await client.next((f) => f.type === "welcome");
    client.send("{not json");
    assert.equal((await client.next((f) => f.type === "error")).code, "bad_frame");
    client.send({ type: "subscribe", channel: "has spaces", id: 7 });
    const error = await client.next((f) => f.type === "error");
    assert.equal(error.id, 7);
    assert.match(String(error.message), /channel/);
    client.send({ type: "explode" });
    assert.equal((await client.next((f) => f.type === "error")).code, "bad_frame");
    client.send({ type: "ping", id: "still-here" });
    assert.equal((await client.next((f) => f.type === "pong")).id, "still-here");
    client.close();
  });

  it("stops delivering after unsubscribe", async () => {
    const client = await TestClient.connect(url);
    client.send({ type: "subscribe", channel: "quiet" });
    await client.next((f) => f.type === "subscribed");
    client.send({ type: "unsubscribe", channel: "quiet", id: "u" });
    await client.next((f) => f.type === "unsubscribed");
    client.send({ type: "subscribe", channel: "loud" });
    await client.next((f) => f.type === "subscribed" && f.channel === "loud");
    client.send({ type: "publish", channel: "quiet", data: 1, id: "p" });
    client.send({ type: "publish", channel: "loud", data: 2, id: "q" });
    // Published after the quiet one on the same connection: once it is here, a quiet message would have been too.
    assert.equal((await client.next((f) => f.type === "message" && f.channel === "loud")).data, 2);
    assert.deepEqual(client.frames.filter((f) => f.type === "message"), [], "nothing of the channel left");
    client.close();
  });
});
