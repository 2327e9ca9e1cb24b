import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createFleetDriver, FleetNodeNotFound, FleetPermissionError, FleetValidationError, type FleetDriver } from "../../src/fleet/index.ts";
import { testLog } from "../helpers/config.ts";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient } from "../helpers/ws-client.ts";

/** The local fleet driver against a real `pulseboard gateway` (cluster, admin API, faults on). */
describe("local fleet driver (slow: real gateway fleet)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  let driver: FleetDriver;
  const clients: TestClient[] = [];
  const run = (dryRun = false) => ({ signal: AbortSignal.timeout(30_000), dryRun });
  const adminNodes = async () => (await fleet.admin("GET", "/nodes")).body.nodes as { id: string; pid: number; state: string; restarts: number }[];
  const connect = (url: string) => TestClient.welcomed(url, clients);

  before(async () => {
    redis = await startRedis();
    fleet = await startTestFleet({ cacheUrl: redis.url, nodes: 2 });
    // As the worker gets it: the driver's defaults come from gateway.admin_url and admin_token.
    driver = createFleetDriver({ fleet: { driver: "local", settings: {}, inCluster: false }, gateway: { adminUrl: fleet.adminUrl, adminToken: fleet.token } }, testLog());
  });

  after(async () => {
    for (const client of clients) client.close();
    await fleet.stop();
    await redis.stop();
  });

  it("lists the nodes and reports the fleet's stats", async () => {
    await connect(fleet.url(0));
    const nodes = await driver.nodes(run());
    assert.deepEqual(nodes.map((n) => [n.id, n.state]), [["node-0", "ready"], ["node-1", "ready"]]);
    const stats = await driver.stats(run());
    assert.equal(stats.cacheMode, "normal");
    assert.ok(stats.connections >= 1);
    assert.ok(stats.limit !== undefined && stats.limit > 0);
    assert.deepEqual(stats.nodes.map((n) => [n.id, n.safeguardStuck]), [["node-0", false], ["node-1", false]]);
  });

  it("changes nothing in a dry run: restart, rolling restart, scale, cache mode", async () => {
    const before = await adminNodes();
    const outcomes = [
      await driver.restart({ node: "node-0" }, run(true)),
      await driver.restart({ rolling: true }, run(true)),
      await driver.restart({ failing: true }, run(true)),
      await driver.scale(3, run(true)),
      await driver.setCacheMode("bypass", run(true)),
    ];
    for (const outcome of outcomes) assert.equal(outcome.dryRun, true);
    assert.match(outcomes[0]!.summary, /^Would restart node-0 \(ready, \d+ clients?\); .*Nothing was changed \(dry run\)\.$/);
    assert.equal(outcomes[1]!.summary, "Would restart all 2 nodes one by one (node-0, node-1). Nothing was changed (dry run).");
    assert.match(outcomes[3]!.summary, /^Would scale the gateway fleet from 2 to 3 nodes\./);
    assert.match(outcomes[4]!.summary, /^Would switch the gateway cache mode from normal to bypass on 2 nodes\./);
    const after = await adminNodes();
    assert.deepEqual(after.map((n) => [n.id, n.pid, n.restarts]), before.map((n) => [n.id, n.pid, n.restarts]));
    assert.equal((await fleet.admin("GET", "/stats")).body.mode, "normal");
  });

  it("refuses an unknown node, replicas out of bounds and a wrong token, saying why", async () => {
    await assert.rejects(driver.restart({ node: "node-7" }, run()), (err: Error) => err instanceof FleetNodeNotFound && err.message === 'the fleet has no node "node-7" (nodes: node-0, node-1)');
    await assert.rejects(driver.scale(0, run(true)), FleetValidationError);
    const stranger = createFleetDriver({ fleet: { driver: "local", settings: { admin_token: "not-the-fleet-token-at-all" }, inCluster: false }, gateway: { adminUrl: fleet.adminUrl, adminToken: undefined } }, testLog());
    await assert.rejects(stranger.nodes(run()), (err: Error) => err instanceof FleetPermissionError && /refused the token \(401\)/.test(err.message));
  });

  it("restarts one node: its clients get 1012 and reconnect to the other node", async () => {
    const connected = await Promise.all(Array.from({ length: 8 }, () => connect(fleet.url())));
    const onZero = connected.filter((c) => c.node === "node-0");
    assert.ok(onZero.length > 0, "the shared port gave node-0 some clients");
    const pid = (await adminNodes()).find((n) => n.id === "node-0")!.pid;
    const outcome = await driver.restart({ node: "node-0" }, run());
    assert.ok(onZero.every((c) => c.client.closedWith?.code === 1012), JSON.stringify(onZero.map((c) => c.client.closedWith)));
    const moved = await Promise.all(onZero.map(() => connect(fleet.url())));
    assert.ok(moved.some((c) => c.node === "node-1"), `reconnected to ${moved.map((c) => c.node)}`);
    assert.match(outcome.summary, /^Restarted node-0: \d+ clients? moved, back in [\d.]+ m?s\.$/);
    const node0 = (await adminNodes()).find((n) => n.id === "node-0")!;
    assert.equal(node0.state, "ready");
    assert.notEqual(node0.pid, pid);
  });

  it("restarts only the failing nodes: a frozen one, then one whose safeguard is stuck", async () => {
    assert.match((await driver.restart({ failing: true }, run())).summary, /^No gateway node is failing \(2 of 2 nodes ready\); nothing to restart\.$/);

    assert.equal((await fleet.admin("POST", "/nodes/node-1/faults", { fault: "freeze", duration: "20s" })).status, 200);
    await waitFor("node-1 to be seen unresponsive", async () => (await adminNodes()).find((n) => n.id === "node-1")!.state === "unresponsive", 8_000, 250);
    const dry = await driver.restart({ failing: true }, run(true));
    assert.equal(dry.summary, "Would restart 1 failing node: node-1 (unresponsive). Nothing was changed (dry run).");
    const before = await adminNodes();
    const outcome = await driver.restart({ failing: true }, run());
    assert.match(outcome.summary, /^Restarted 1 failing node: node-1 \(unresponsive; \d+ clients? moved, back in [\d.]+ m?s\)\.$/);
    const after = await adminNodes();
    assert.equal(after.find((n) => n.id === "node-1")!.state, "ready");
    assert.equal(after.find((n) => n.id === "node-1")!.restarts, before.find((n) => n.id === "node-1")!.restarts + 1);
    assert.equal(after.find((n) => n.id === "node-0")!.pid, before.find((n) => n.id === "node-0")!.pid, "node-0 was left alone");

    await fleet.admin("POST", "/nodes/node-0/faults", { fault: "lock-safeguard", duration: "60s" });
    const refused = await TestClient.connect(fleet.url(0));
    assert.equal((await refused.closed()).code, 1013);
    assert.equal((await driver.stats(run())).nodes.find((n) => n.id === "node-0")!.safeguardStuck, true);
    const unstuck = await driver.restart({ failing: true }, run());
    assert.match(unstuck.summary, /^Restarted 1 failing node: node-0 \(safeguard stuck; /);
    const welcome = await connect(fleet.url(0));
    assert.equal(welcome.node, "node-0", "the fresh node-0 lets clients in again");
  });

  it("scales out to three nodes (the new one serves) and back in", async () => {
    const out = await driver.scale(3, run());
    assert.match(out.summary, /^Scaled the gateway fleet from 2 to 3 nodes \(node-0, node-1, node-2\) in [\d.]+ m?s\.$/);
    assert.equal((await connect(fleet.url(2))).node, "node-2");
    const back = await driver.scale(2, run());
    assert.match(back.summary, /^Scaled the gateway fleet from 3 to 2 nodes/);
    assert.deepEqual((await driver.nodes(run())).map((n) => n.id), ["node-0", "node-1"]);
    assert.match((await driver.scale(2, run())).summary, /already runs 2 nodes; nothing to scale/);
  });

  it("switches the whole fleet's cache mode and back", async () => {
    const bypass = await driver.setCacheMode("bypass", run());
    assert.equal(bypass.summary, "Switched the gateway cache mode from normal to bypass on 2 of 2 nodes.");
    assert.equal((await driver.stats(run())).cacheMode, "bypass");
    const stats = (await fleet.admin("GET", "/stats")).body;
    assert.ok(stats.nodes.every((n: { stats: { mode: string } }) => n.stats.mode === "bypass"));
    await driver.setCacheMode("normal", run());
    assert.equal((await driver.stats(run())).cacheMode, "normal");
  });

  it("restarts every node one by one", async () => {
    const before = await adminNodes();
    const outcome = await driver.restart({ rolling: true }, run());
    assert.match(outcome.summary, /^Restarted all 2 nodes one by one \(node-0, node-1\); \d+ clients? moved, [\d.]+ m?s in all\.$/);
    const after = await adminNodes();
    assert.deepEqual(after.map((n) => n.restarts), before.map((n) => n.restarts + 1));
    assert.ok(after.every((n) => n.state === "ready"));
  });
});
