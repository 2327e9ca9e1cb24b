import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { alive, commandLine, descendants } from "../helpers/processes.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { TestClient } from "../helpers/ws-client.ts";
import { waitFor } from "../helpers/wait.ts";

/** `pulseboard gateway` as its own process tree: a cluster of nodes and the fleet admin API. */
describe("gateway fleet (slow: real cluster, admin API)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  let port: number;
  const clients: TestClient[] = [];
  const admin: TestFleet["admin"] = (...args) => fleet.admin(...args);
  const connect = (url: string) => TestClient.welcomed(url, clients);

  before(async () => {
    redis = await startRedis();
    fleet = await startTestFleet({ cacheUrl: redis.url, nodes: 2 });
    port = fleet.port;
  });

  after(async () => {
    for (const client of clients) client.close();
    await fleet.stop();
    await redis.stop();
  });

  it("guards the admin API with its bearer token", async () => {
    assert.equal((await admin("GET", "/nodes", undefined, "wrong-token-wrong-token")).status, 401);
    assert.equal((await fetch(`${fleet.adminUrl}/nodes`)).status, 401);
    const health = await fetch(`${fleet.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    const { body } = await admin("GET", "/nodes");
    assert.deepEqual(body.nodes.map((n: any) => [n.id, n.port, n.state]), [["node-0", port + 1, "ready"], ["node-1", port + 2, "ready"]]);
    assert.equal((await admin("POST", "/scale", { nodes: 0 })).status, 400);
    assert.equal((await admin("POST", "/nodes/node-9/restart")).status, 404);
    assert.equal((await admin("POST", "/nodes/node-0/faults", { fault: "explode", duration: "1s" })).status, 400);
  });

  it("reaches each node alone and delivers node-0 → node-1 through the cache", async () => {
    const a = await connect(`ws://127.0.0.1:${port + 1}/ws`);
    const b = await connect(`ws://127.0.0.1:${port + 2}/ws`);
    assert.deepEqual([a.node, b.node], ["node-0", "node-1"]);
    a.client.send({ type: "subscribe", channel: "fleet.room" });
    await a.client.next((f) => f.type === "subscribed");
    b.client.send({ type: "publish", channel: "fleet.room", data: "hi", id: 1 });
    assert.equal((await a.client.next((f) => f.type === "message")).data, "hi");
  });

  it("reports per-node and total stats, and Prometheus metrics labelled by node", async () => {
    const { body } = await admin("GET", "/stats");
    assert.equal(body.mode, "normal");
    assert.equal(body.total.nodes, 2);
    assert.ok(body.total.connections >= 2);
    for (const node of body.nodes) {
      assert.equal(node.stats.cache.ok, true);
      assert.equal(typeof node.stats.rates.publishes_per_s, "number");
      assert.equal(node.stats.safeguard.stuck, false);
    }
    const metrics = await admin("GET", "/metrics");
    assert.match(metrics.text, /pulseboard_gateway_connections\{node="node-0"\} \d+/);
    assert.match(metrics.text, /pulseboard_gateway_node_up\{node="node-1"\} 1/);
    assert.match(metrics.text, /pulseboard_gateway_publishes_total\{result="ok",node="node-1"\} \d+/);
  });

  it("restarts one node after draining it: its clients get 1012 and reconnect to the other", async () => {
    const shared = `ws://127.0.0.1:${port}/ws`;
    const connected = await Promise.all(Array.from({ length: 10 }, () => connect(shared)));
    const onZero = connected.filter((c) => c.node === "node-0");
    const onOne = connected.filter((c) => c.node === "node-1");
    assert.ok(onZero.length > 0 && onOne.length > 0, "the shared port spreads clients over both nodes");
    const before = (await admin("GET", "/nodes")).body.nodes.find((n: any) => n.id === "node-0");
    const restarting = admin("POST", "/nodes/node-0/restart");
    const codes = await Promise.all(onZero.map((c) => c.client.closed()));
    assert.ok(codes.every((c) => c.code === 1012), JSON.stringify(codes));
    const moved = await Promise.all(onZero.map(() => connect(shared)));
    assert.ok(moved.every((c) => c.node === "node-1"), `reconnected to ${moved.map((c) => c.node)}`);
    const result = await restarting;
    assert.equal(result.status, 200);
    assert.ok(result.body.drained >= onZero.length, `drained ${result.body.drained}`);
    const after = (await admin("GET", "/nodes")).body.nodes.find((n: any) => n.id === "node-0");
    assert.equal(after.state, "ready");
    assert.notEqual(after.pid, before.pid);
    assert.equal(after.restarts, 1);
    assert.ok(onOne.every((c) => c.client.closedWith === undefined), "node-1's clients were not touched");
  });

  it("scales out to three nodes (the new one serves) and back in", async () => {
    const scaled = await admin("POST", "/scale", { nodes: 3 });
    assert.equal(scaled.status, 200);
    assert.equal(scaled.body.nodes.length, 3);
    const third = await connect(`ws://127.0.0.1:${port + 3}/ws`);
    assert.equal(third.node, "node-2");
    await admin("POST", "/scale", { nodes: 2 });
    assert.equal((await third.client.closed()).code, 1012);
    assert.deepEqual((await admin("GET", "/nodes")).body.nodes.map((n: any) => n.id), ["node-0", "node-1"]);
  });

  it("switches the whole fleet's cache mode", async () => {
    assert.deepEqual((await admin("POST", "/cache-mode", { mode: "bypass" })).body, { mode: "bypass", nodes: { "node-0": "ok", "node-1": "ok" } });
    const stats = (await admin("GET", "/stats")).body;
    assert.equal(stats.mode, "bypass");
    assert.ok(stats.nodes.every((n: any) => n.stats.mode === "bypass"));
    await admin("POST", "/cache-mode", { mode: "normal" });
    assert.equal((await admin("GET", "/stats")).body.mode, "normal");
  });

  it("without the cache, still delivers across nodes through the fleet's relay, under each node's own serials", async () => {
    assert.equal((await admin("POST", "/cache-mode", { mode: "bypass" })).status, 200);
    try {
      const a = await connect(`ws://127.0.0.1:${port + 1}/ws`);
      const b = await connect(`ws://127.0.0.1:${port + 2}/ws`);
      a.client.send({ type: "subscribe", channel: "bypass.room", id: "s" });
      await a.client.next((f) => f.type === "subscribed");
      const serials: string[] = [];
      for (let i = 1; i <= 5; i++) {
        b.client.send({ type: "publish", channel: "bypass.room", data: { i }, id: `p${i}` });
        serials.push((await b.client.next((f) => f.type === "ack" && f.id === `p${i}`)).serial as string);
      }
      const got = [];
      for (let i = 1; i <= 5; i++) got.push(await a.client.next((f) => f.type === "message" && f.channel === "bypass.room"));
      assert.deepEqual(got.map((f) => (f.data as { i: number }).i), [1, 2, 3, 4, 5], "every message, once, in order");
      const theirs = got.map((f) => f.serial as string);
      assert.notEqual(theirs[0]!.split(":")[0], serials[0]!.split(":")[0], "node-0 numbers them in its own epoch");
      assert.deepEqual(theirs.map((s) => Number(s.split(":")[1])), [1, 2, 3, 4, 5].map((n) => Number(theirs[0]!.split(":")[1]) + n - 1), "consecutive on node-0");

      // A client of node-0 that drops resumes there from node-0's serial.
      const again = await connect(`ws://127.0.0.1:${port + 1}/ws`);
      b.client.send({ type: "publish", channel: "bypass.room", data: { i: 6 }, id: "p6" });
      await a.client.next((f) => f.type === "message" && (f.data as { i: number }).i === 6);
      again.client.send({ type: "subscribe", channel: "bypass.room", since: theirs[2], id: "r" });
      assert.equal((await again.client.next((f) => f.type === "subscribed")).recovered, true);
      const replay = [];
      for (let i = 0; i < 3; i++) replay.push(((await again.client.next((f) => f.type === "message")).data as { i: number }).i);
      assert.deepEqual(replay, [4, 5, 6]);
    } finally {
      await admin("POST", "/cache-mode", { mode: "normal" });
    }
  });

  it("sees a frozen node as unresponsive and restarts it by killing it", async (t) => {
    const frozen = await admin("POST", "/nodes/node-1/faults", { fault: "freeze", duration: "20s" });
    assert.equal(frozen.status, 200);
    await waitFor("node-1 to be seen unresponsive", async () => (await admin("GET", "/nodes")).body.nodes.find((n: any) => n.id === "node-1").state === "unresponsive", 6_000, 250);
    const stats = (await admin("GET", "/stats")).body;
    assert.equal(stats.nodes.find((n: any) => n.id === "node-1").stats, null);
    const restarted = await admin("POST", "/nodes/node-1/restart");
    assert.equal(restarted.status, 200);
    t.diagnostic(`the frozen node-1 was killed and replaced in ${restarted.body.took_ms} ms`);
    assert.equal(restarted.body.drained, 0, "killed without a drain: it could not answer one");
    assert.ok(restarted.body.took_ms < 15_000);
    assert.equal((await admin("GET", "/nodes")).body.nodes.find((n: any) => n.id === "node-1").state, "ready");
  });

  it("locks a node's safeguard on demand: new clients refused, its health says stuck", async () => {
    await admin("POST", "/nodes/node-0/faults", { fault: "lock-safeguard", duration: "30s" });
    const refused = await TestClient.connect(`ws://127.0.0.1:${port + 1}/ws`);
    assert.equal((await refused.closed()).code, 1013);
    const node = (await admin("GET", "/stats")).body.nodes.find((n: any) => n.id === "node-0");
    assert.equal(node.stats.safeguard.stuck, true);
    assert.deepEqual(node.stats.faults, ["lock-safeguard"]);
    await admin("DELETE", "/nodes/node-0/faults");
    const welcome = await connect(`ws://127.0.0.1:${port + 1}/ws`);
    assert.equal(welcome.node, "node-0");
  });

  it("stops every node on SIGTERM", async () => {
    // (tsx's esbuild helper, when the sources run uncompiled, is no node.)
    const tree = descendants(fleet.process.pid!).filter((pid) => alive(pid) && !commandLine(pid).includes("esbuild"));
    assert.equal(tree.length, 2, tree.map((pid) => commandLine(pid)).join("\n"));
    fleet.process.kill("SIGTERM");
    await waitFor("the fleet to exit", () => fleet.process.exitCode !== null, 10_000);
    assert.equal(fleet.process.exitCode, 0);
    await waitFor("its nodes to exit", () => tree.every((pid) => !alive(pid)), 5_000);
  });
});
