import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createFleetDriver,
  FLEET_DRIVER_KINDS,
  FleetError,
  FleetNodeNotFound,
  FleetValidationError,
  type DriverCall,
  type FleetDriver,
  type FleetDriverName,
} from "../../src/fleet/index.ts";
import { ApiRecorder, type RecordedCall } from "../helpers/api-recorder.ts";
import { testLog } from "../helpers/config.ts";
import { startTestFleet } from "../helpers/fleet.ts";
import { startFakeKube } from "../helpers/kube-api.ts";
import { startRedis } from "../helpers/redis.ts";
import { startShellFleet } from "../helpers/shell-fleet.ts";

/**
 * The contract every fleet driver keeps, checked against a real platform
 * for each: the embedded gateway fleet (local), a stand-in Kubernetes API
 * server (kubernetes), a stand-in for the user's automation (http), and a
 * shell-script fleet kept in files (command).
 * A dry run changes nothing; every outcome has a summary for the timeline;
 * an unknown node, bad replicas and a dead deadline are clear FleetErrors.
 */

interface Harness {
  driver: FleetDriver;
  /** Everything the platform would change, to compare before and after. */
  snapshot(): Promise<unknown>;
  stop(): Promise<void>;
}

function driverFor(driver: FleetDriverName, settings: Record<string, unknown>, admin: { url: string; token?: string } = { url: "http://127.0.0.1:9" }): FleetDriver {
  return createFleetDriver({ fleet: { driver, settings, inCluster: false }, gateway: { adminUrl: admin.url, adminToken: admin.token } }, testLog(), process.env);
}

/** One harness per driver: a Record, so a new driver without one does not compile. */
const harnesses: Record<FleetDriverName, () => Promise<Harness>> = {
  async local() {
    const redis = await startRedis();
    const fleet = await startTestFleet({ cacheUrl: redis.url, nodes: 2 });
    return {
      driver: driverFor("local", {}, { url: fleet.adminUrl, token: fleet.token }),
      async snapshot() {
        const nodes = (await fleet.admin("GET", "/nodes")).body.nodes.map((n: any) => [n.id, n.pid, n.restarts]);
        return { nodes, mode: (await fleet.admin("GET", "/stats")).body.mode };
      },
      async stop() {
        await fleet.stop();
        await redis.stop();
      },
    };
  },

  async kubernetes() {
    const admin = await ApiRecorder.start();
    let mode = "normal";
    admin.on("GET", "/nodes", { body: { nodes: [] } });
    admin.on("GET", "/stats", () => ({ body: { mode, total: { nodes: 1, ready: 1, connections: 3 }, nodes: [{ id: "node-0", port: 4001, state: "ready", connections: 3, restarts: 0, stats: { connections: 3, mode, safeguard: { limit: 100, stuck: false, locked: false } } }] } }));
    admin.on("POST", "/cache-mode", (call) => {
      mode = (call.json as { mode: string }).mode;
      return { body: { mode, nodes: { "node-0": "ok" } } };
    });
    const kube = await startFakeKube();
    return {
      driver: driverFor("kubernetes", kube.settings({ admin_port: admin.port })),
      async snapshot() {
        return { replicas: kube.state.replicas, restartedAt: kube.state.restartedAt, pods: kube.state.pods.map((p) => p.name), mode };
      },
      async stop() {
        await kube.stop();
        await admin.stop();
      },
    };
  },

  async http() {
    const state = { replicas: 2, mode: "normal", restarts: {} as Record<string, number> };
    const nodes = () => Array.from({ length: state.replicas }, (_, i) => ({ id: `gw-${i}`, state: "ready", connections: 5 }));
    const order = (call: RecordedCall) => call.json as { dry_run: boolean; target?: { node?: string }; replicas?: number; mode?: string };
    const hooks = await ApiRecorder.start();
    hooks
      .on("GET", "/fleet/nodes", () => ({ body: { nodes: nodes() } }))
      .on("GET", "/fleet/stats", () => ({ body: { connections: 5 * state.replicas, cache_mode: state.mode, nodes: nodes() } }))
      .on("POST", "/hooks/restart", (call) => {
        const { target, dry_run } = order(call);
        if (target?.node && !nodes().some((n) => n.id === target.node)) return { status: 404, body: { error: `no node ${target.node}` } };
        if (!dry_run) for (const n of nodes()) if (!target?.node || n.id === target.node) state.restarts[n.id] = (state.restarts[n.id] ?? 0) + 1;
        return { body: { accepted: true } };
      })
      .on("POST", "/hooks/scale", (call) => {
        if (!order(call).dry_run) state.replicas = order(call).replicas!;
        return { body: { accepted: true } };
      })
      .on("POST", "/hooks/cache-mode", (call) => {
        if (!order(call).dry_run) state.mode = order(call).mode!;
        return { status: 202, body: "" };
      });
    return {
      driver: driverFor("http", {
        restart: { url: hooks.url("/hooks/restart") },
        scale: { url: hooks.url("/hooks/scale") },
        cache_mode: { url: hooks.url("/hooks/cache-mode") },
        nodes: { url: hooks.url("/fleet/nodes") },
        stats: { url: hooks.url("/fleet/stats") },
      }),
      snapshot: async () => structuredClone(state),
      stop: () => hooks.stop(),
    };
  },

  async command() {
    const fleet = startShellFleet({ replicas: 2 });
    return {
      driver: driverFor("command", fleet.settings()),
      snapshot: async () => fleet.state(),
      stop: () => fleet.stop(),
    };
  },
};

const call = (dryRun = false): DriverCall => ({ signal: AbortSignal.timeout(30_000), dryRun });

for (const kind of FLEET_DRIVER_KINDS) {
  describe(`fleet driver conformance: ${kind}`, { timeout: 120_000 }, () => {
    let harness: Harness;
    let driver: FleetDriver;

    before(async () => {
      harness = await harnesses[kind]();
      driver = harness.driver;
    });

    after(() => harness.stop());

    it("names its kind, lists its nodes and reports stats", async () => {
      assert.equal(driver.kind, kind);
      const nodes = await driver.nodes(call());
      assert.ok(nodes.length >= 2, JSON.stringify(nodes));
      for (const node of nodes) {
        assert.equal(typeof node.id, "string");
        assert.equal(node.state, "ready");
      }
      const stats = await driver.stats(call());
      assert.equal(typeof stats.connections, "number");
      assert.deepEqual(stats.nodes.map((n) => n.id), nodes.map((n) => n.id));
    });

    it("changes nothing in a dry run, and says so in every summary", async () => {
      const before = await harness.snapshot();
      const [first] = await driver.nodes(call());
      const count = (await driver.nodes(call())).length;
      const outcomes = [
        await driver.restart({ node: first!.id }, call(true)),
        await driver.restart({ failing: true }, call(true)),
        await driver.restart({ rolling: true }, call(true)),
        await driver.scale(count + 1, call(true)),
        await driver.setCacheMode("bypass", call(true)),
      ];
      for (const outcome of outcomes) {
        assert.equal(outcome.dryRun, true);
        assert.match(outcome.summary, /\S/);
        // "No failing node" needs no dry-run note: it would do nothing anyway.
        if (!/nothing to restart/.test(outcome.summary)) assert.match(outcome.summary, /Nothing was changed \(dry run\)\.$/, outcome.summary);
      }
      assert.deepEqual(await harness.snapshot(), before);
    });

    it("refuses an unknown node by name, listing the nodes there are, and changes nothing", async () => {
      const before = await harness.snapshot();
      const known = (await driver.nodes(call())).map((n) => n.id);
      for (const dryRun of [true, false]) {
        await assert.rejects(driver.restart({ node: "no-such-node" }, call(dryRun)), (err: Error) => {
          assert.ok(err instanceof FleetNodeNotFound, String(err));
          assert.equal(err.retryable, false);
          assert.equal(err.message, `the fleet has no node "no-such-node" (nodes: ${known.join(", ")})`);
          return true;
        });
      }
      assert.deepEqual(await harness.snapshot(), before);
    });

    it("refuses replicas outside its bounds before changing anything", async () => {
      const before = await harness.snapshot();
      for (const replicas of [0, 17, 2.5]) await assert.rejects(driver.scale(replicas, call()), FleetValidationError);
      assert.deepEqual(await harness.snapshot(), before);
    });

    it("fails with a FleetError when the call's deadline has already passed", async () => {
      const dead = { signal: AbortSignal.abort(new Error("step deadline")), dryRun: false };
      await assert.rejects(driver.nodes(dead), (err: Error) => err instanceof FleetError && err.retryable);
      await assert.rejects(driver.scale(3, dead), FleetError);
    });

    it("acts for real and words each outcome for the incident timeline", async () => {
      const [first] = await driver.nodes(call());
      const count = (await driver.nodes(call())).length;
      const before = await harness.snapshot();
      const outcomes = [
        await driver.setCacheMode("bypass", call()),
        await driver.setCacheMode("normal", call()),
        await driver.restart({ node: first!.id }, call()),
        await driver.scale(count + 1, call()),
        await driver.scale(count, call()),
      ];
      for (const outcome of outcomes) {
        assert.equal(outcome.dryRun, false);
        assert.match(outcome.summary, /^\S.*\S$/s);
        assert.doesNotMatch(outcome.summary, /dry run/i);
      }
      assert.notDeepEqual(await harness.snapshot(), before, "the restart left a trace on the platform");
      // The restarted node itself: a new incarnation (another start time), or replaced by another (a new pod's name).
      const again = (await waitForNodes(() => driver.nodes(call()), (nodes) => nodes.length === count)).find((n) => n.id === first!.id);
      if (again && first!.startedAt !== undefined) assert.notEqual(again.startedAt, first!.startedAt, `${first!.id} was restarted: it started at ${first!.startedAt} and still says ${again.startedAt}`);
      // Without a start time (the user's own automation need not say), the snapshot above carries its restart count.
      else if (again) assert.ok(kind === "http" || kind === "command", `${kind}: the driver reports no start time for ${first!.id}, so a restart cannot be seen on the node`);
    });
  });
}

/** The driver's node list once `done` holds for it (a restarted node comes back, a scale settles), or the last one after 15 s. */
async function waitForNodes<T>(list: () => Promise<T[]>, done: (nodes: T[]) => boolean): Promise<T[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const nodes = await list();
    if (done(nodes) || Date.now() > deadline) return nodes;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
