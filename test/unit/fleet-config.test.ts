import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import { createFleetDriver, FleetConfigError, fleetDrivers, fleetKinds } from "../../src/fleet/index.ts";
import { podState, selectorString } from "../../src/fleet/kubernetes-api.ts";
import { configFrom, testLog } from "../helpers/config.ts";

const BASE = "locations: [{ id: here }]\ncomponents: [{ id: chat, name: Chat }]\n";

async function problems(fleet: string, env: Record<string, string> = {}): Promise<string[]> {
  try {
    await configFrom(`${BASE}fleet:\n${fleet}`, env);
    return [];
  } catch (err) {
    return (err as { problems?: string[] }).problems ?? [String(err)];
  }
}

describe("fleet: config section", () => {
  it("defaults to the local driver with the gateway's admin API", async () => {
    const config = await configFrom(BASE);
    assert.deepEqual(config.fleet, { driver: "local", settings: {}, inCluster: false });
    const driver = createFleetDriver(config, testLog());
    assert.equal(driver.kind, "local");
  });

  it("knows it runs in a pod from KUBERNETES_SERVICE_HOST", async () => {
    const config = await configFrom(`${BASE}fleet:\n  driver: kubernetes\n  namespace: live\n  deployment: gateway\n`, { KUBERNETES_SERVICE_HOST: "10.96.0.1" });
    assert.equal(config.fleet.inCluster, true);
    assert.deepEqual(config.fleet.settings, { namespace: "live", deployment: "gateway" });
  });

  it("checks the driver's own settings, naming each field as fleet.<field>", async () => {
    assert.deepEqual(await problems("  driver: kubernetes\n  namespace: Live_Ns\n  admin_port: 70000\n"), [
      'fleet.namespace: expected a namespace name like "live"',
      "fleet.deployment: expected the name of the gateway's Deployment",
      "fleet.admin_port: Too big: expected number to be <=65535",
    ]);
    assert.deepEqual(await problems("  driver: kubernetes\n  namespace: live\n  deployment: gateway\n  min_replicas: 4\n  max_replicas: 2\n"), [
      "fleet.max_replicas: must be at least min_replicas (4)",
    ]);
    assert.deepEqual(await problems("  driver: local\n  max_replicas: 100\n"), ["fleet.max_replicas: the embedded fleet runs at most 64 nodes"]);
    assert.deepEqual(await problems("  driver: nomad\n"), ['fleet.driver: unknown fleet driver "nomad" (known: local, kubernetes, http, command)']);
  });

  it("lists every driver kind in the registry, each with a schema", () => {
    assert.deepEqual(fleetKinds.kinds(), ["local", "kubernetes", "http", "command"]);
    for (const kind of fleetKinds.kinds()) {
      assert.ok(fleetKinds.schema(kind));
      assert.equal(fleetKinds.get(kind)?.kind, kind);
    }
    assert.equal(fleetDrivers.kubernetes.description, "a gateway Deployment in Kubernetes");
  });

  it("refuses to create a driver from settings that config check would have refused", () => {
    const gateway = { adminUrl: "http://127.0.0.1:4100", adminToken: undefined };
    assert.throws(() => createFleetDriver({ fleet: { driver: "http", settings: { scale: { url: "nope" } }, inCluster: false }, gateway }, testLog()), (err: Error) => {
      assert.ok(err instanceof FleetConfigError);
      assert.match(err.message, /fleet\.scale\.url: expected an HTTP URL/);
      return true;
    });
    assert.throws(() => createFleetDriver({ fleet: { driver: "nomad", settings: {}, inCluster: false }, gateway }, testLog()), /unknown fleet driver "nomad"/);
  });
});

describe("kubernetes pods as fleet nodes", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  const pod = (phase: string, ready?: "True" | "False", since = "2026-03-01T11:50:00Z", deleting = false): V1Pod => ({
    metadata: { name: "gateway-x", ...(deleting ? { deletionTimestamp: new Date(now) } : {}) },
    status: { phase, startTime: new Date(since), conditions: ready ? [{ type: "Ready", status: ready, lastTransitionTime: new Date(since) }] : [] },
  });

  it("maps phase, readiness and deletion to the fleet's states", () => {
    assert.equal(podState(pod("Running", "True"), now), "ready");
    assert.equal(podState(pod("Pending"), now), "starting");
    assert.equal(podState(pod("Running", "False", "2026-03-01T11:59:30Z"), now), "starting", "not Ready for 30 s: still starting");
    assert.equal(podState(pod("Running", "False"), now), "unresponsive", "not Ready for 10 min: failing");
    assert.equal(podState(pod("Running", "True", undefined, true), now), "draining");
    assert.equal(podState(pod("Failed"), now), "stopped");
    assert.equal(podState(pod("Unknown"), now), "unknown");
  });

  it("writes a Deployment's selector the way the list API takes it", () => {
    assert.equal(
      selectorString({
        matchLabels: { app: "gateway", tier: "edge" },
        matchExpressions: [
          { key: "zone", operator: "In", values: ["a", "b"] },
          { key: "canary", operator: "DoesNotExist" },
        ],
      }),
      "app=gateway,tier=edge,zone in (a,b),!canary",
    );
  });
});
