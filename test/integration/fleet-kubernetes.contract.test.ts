import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { createFleetDriver, FleetNodeNotFound, FleetPermissionError, FleetUpstreamError, type FleetDriver } from "../../src/fleet/index.ts";
import { ApiRecorder } from "../helpers/api-recorder.ts";
import { testLog } from "../helpers/config.ts";
import { startFakeKube, status, type FakeKube } from "../helpers/kube-api.ts";

/**
 * CONTRACT test of the kubernetes fleet driver: no cluster here, so the
 * driver talks to a stand-in API server on loopback (through a real
 * kubeconfig with a bearer token) and the test pins down exactly what it
 * sends: method, path, query (dryRun=All in a dry run), content type and
 * body, as `kubectl scale` / `kubectl rollout restart` / `kubectl delete pod`
 * would. Each pod's gateway admin API is a second recorder.
 */

const NS = "live";
const DEPLOY = "gateway";
const DEPLOYMENT_PATH = `/apis/apps/v1/namespaces/${NS}/deployments/${DEPLOY}`;
const PODS_PATH = `/api/v1/namespaces/${NS}/pods`;
const SELECTOR = "app=pulseboard-gateway,tier=edge";
const ADMIN_TOKEN = "pod-admin-token-for-tests";

function createDriver(kube: FakeKube, extra: Record<string, unknown> = {}): FleetDriver {
  return createFleetDriver({ fleet: { driver: "kubernetes", settings: kube.settings(extra), inCluster: false }, gateway: { adminUrl: "http://127.0.0.1:9", adminToken: undefined } }, testLog());
}

const run = (dryRun = false) => ({ signal: AbortSignal.timeout(10_000), dryRun });

function podStats(stuck: boolean) {
  return {
    mode: "normal",
    total: { nodes: 1, ready: 1, connections: 7 },
    nodes: [{ id: "node-0", port: 4001, state: "ready", connections: 7, restarts: 0, stats: { connections: 7, mode: "normal", safeguard: { limit: 1000, stuck, locked: false } } }],
  };
}

describe("kubernetes fleet driver (CONTRACT: recorded Kubernetes API)", { timeout: 60_000 }, () => {
  let kube: FakeKube;
  let admin: ApiRecorder;
  let driver: FleetDriver;

  before(async () => {
    admin = await ApiRecorder.start();
    admin.on("GET", "/stats", { body: podStats(false) });
    admin.on("GET", "/nodes", { body: { nodes: [] } });
    admin.on("POST", "/cache-mode", (call) => ({ body: { mode: (call.json as { mode: string }).mode, nodes: { "node-0": "ok" } } }));
  });

  beforeEach(async () => {
    await kube?.stop();
    kube = await startFakeKube({ namespace: NS, deployment: DEPLOY });
    driver = createDriver(kube, { admin_port: admin.port });
    admin.clear();
  });

  after(async () => {
    await kube.stop();
    await admin.stop();
  });

  it("lists the Deployment's pods by the Deployment's own selector, authenticated by the kubeconfig's token", async () => {
    const nodes = await driver.nodes(run());
    assert.ok(nodes.every((n) => n.startedAt && !Number.isNaN(Date.parse(n.startedAt))), "each pod's start time, so a restart can be told from none");
    assert.deepEqual(nodes.map(({ startedAt: _, ...n }) => n), [
      { id: "gateway-7d9f-a", state: "ready", address: "127.0.0.1" },
      { id: "gateway-7d9f-b", state: "ready", address: "127.0.0.1" },
    ]);
    const [deployment, pods] = kube.api.calls;
    assert.equal(kube.api.calls.length, 2);
    assert.deepEqual([deployment!.method, deployment!.pathname, deployment!.query], ["GET", DEPLOYMENT_PATH, {}]);
    assert.deepEqual([pods!.method, pods!.pathname, pods!.query], ["GET", PODS_PATH, { labelSelector: SELECTOR }]);
    for (const call of kube.api.calls) assert.equal(call.headers.authorization, `Bearer ${kube.token}`);

    await driver.nodes(run());
    assert.deepEqual(kube.api.calls.slice(2).map((c) => `${c.method} ${c.pathname}`), [`GET ${PODS_PATH}`], "the selector is read once (it is immutable)");
  });

  it("uses label_selector as given, without reading the Deployment", async () => {
    driver = createDriver(kube, { admin_port: admin.port, label_selector: "app=edge" });
    await driver.nodes(run());
    assert.deepEqual(kube.api.calls.map((c) => [c.method, c.pathname, c.query]), [["GET", PODS_PATH, { labelSelector: "app=edge" }]]);
  });

  it("scales with a merge patch of the Deployment's scale subresource", async () => {
    const outcome = await driver.scale(4, run());
    const [call] = kube.api.writes();
    assert.equal(call!.method, "PATCH");
    assert.equal(call!.pathname, `${DEPLOYMENT_PATH}/scale`);
    assert.deepEqual(call!.query, {});
    assert.equal(call!.headers["content-type"], "application/merge-patch+json");
    assert.deepEqual(call!.json, { spec: { replicas: 4 } });
    assert.equal(kube.state.replicas, 4);
    assert.equal(outcome.dryRun, false);
    assert.equal(outcome.summary, 'Scaled deployment "gateway" in namespace "live" to 4 replicas (was 2).');
  });

  it("sends dryRun=All with a dry-run scale, and nothing changes", async () => {
    const outcome = await driver.scale(5, run(true));
    const [call] = kube.api.writes();
    assert.deepEqual([call!.method, call!.pathname, call!.query, call!.headers["content-type"]], ["PATCH", `${DEPLOYMENT_PATH}/scale`, { dryRun: "All" }, "application/merge-patch+json"]);
    assert.deepEqual(call!.json, { spec: { replicas: 5 } });
    assert.equal(kube.state.replicas, 2);
    assert.equal(outcome.dryRun, true);
    assert.match(outcome.summary, /dry-run scale of deployment "gateway" .* to 5 replicas .*Nothing was changed/);
  });

  it("refuses replicas outside min_replicas..max_replicas before asking the API server", async () => {
    await assert.rejects(driver.scale(0, run()), /replicas must be a whole number from 1 to 16/);
    await assert.rejects(driver.scale(17, run(true)), /from 1 to 16/);
    assert.equal(kube.api.calls.length, 0);
  });

  it("restarts the Deployment the way `kubectl rollout restart` does: a strategic merge patch of the restartedAt annotation", async () => {
    const before = Date.now();
    const outcome = await driver.restart({ rolling: true }, run());
    const [call] = kube.api.writes();
    assert.deepEqual([call!.method, call!.pathname, call!.query], ["PATCH", DEPLOYMENT_PATH, {}]);
    assert.equal(call!.headers["content-type"], "application/strategic-merge-patch+json");
    const at = (call!.json as any).spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"];
    assert.deepEqual(call!.json, { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": at } } } } });
    assert.match(at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "RFC 3339, as kubectl writes it");
    assert.ok(Date.parse(at) >= before - 1_000 && Date.parse(at) <= Date.now());
    assert.equal(kube.state.restartedAt, at);
    assert.match(outcome.summary, /rolling restart of deployment "gateway" in namespace "live"/);

    await driver.restart({ rolling: true }, run(true));
    const dry = kube.api.writes()[1]!;
    assert.deepEqual([dry.method, dry.pathname, dry.query, dry.headers["content-type"]], ["PATCH", DEPLOYMENT_PATH, { dryRun: "All" }, "application/strategic-merge-patch+json"]);
    assert.equal(kube.state.restartedAt, at, "the dry run left the annotation alone");
  });

  it("restarts one node by deleting its pod, after checking the pod belongs to the Deployment", async () => {
    const outcome = await driver.restart({ node: "gateway-7d9f-a" }, run());
    assert.deepEqual(
      kube.api.calls.map((c) => [c.method, c.pathname, c.query]),
      [
        ["GET", DEPLOYMENT_PATH, {}],
        ["GET", PODS_PATH, { labelSelector: SELECTOR }],
        ["DELETE", `${PODS_PATH}/gateway-7d9f-a`, {}],
      ],
    );
    assert.equal(kube.api.calls[2]!.raw, "", "no delete options: the pod's own grace period applies");
    assert.deepEqual(kube.state.pods.map((p) => p.name), ["gateway-7d9f-b"]);
    assert.match(outcome.summary, /Deleted pod "gateway-7d9f-a" \(was ready\) in namespace "live"; deployment "gateway" replaces it/);

    await driver.restart({ node: "gateway-7d9f-b" }, run(true));
    const dry = kube.api.writes()[1]!;
    assert.deepEqual([dry.method, dry.pathname, dry.query], ["DELETE", `${PODS_PATH}/gateway-7d9f-b`, { dryRun: "All" }]);
    assert.deepEqual(kube.state.pods.map((p) => p.name), ["gateway-7d9f-b"]);
  });

  it("names the known pods when asked to restart one that is not the Deployment's, and deletes nothing", async () => {
    await assert.rejects(driver.restart({ node: "postgres-0" }, run()), (err: Error) => {
      assert.ok(err instanceof FleetNodeNotFound);
      assert.equal(err.message, 'the fleet has no node "postgres-0" (nodes: gateway-7d9f-a, gateway-7d9f-b)');
      return true;
    });
    assert.deepEqual(kube.api.writes(), []);
  });

  it("restarts only the failing pods: not Ready for a minute, or the safeguard stuck", async () => {
    kube.state.pods[0]!.ready = false;
    const outcome = await driver.restart({ failing: true }, run());
    assert.deepEqual(kube.api.writes().map((c) => `${c.method} ${c.pathname}`), [`DELETE ${PODS_PATH}/gateway-7d9f-a`]);
    assert.match(outcome.summary, /Deleted 1 failing pod .*gateway-7d9f-a \(unresponsive\)/);
    // gateway-7d9f-b's admin API was asked (the not-Ready pod's was too: it still has an IP).
    assert.ok(admin.calls.some((c) => c.pathname === "/stats" && c.headers.authorization === `Bearer ${ADMIN_TOKEN}`));

    admin.once("GET", "/stats", { body: podStats(true) });
    kube.api.clear();
    await driver.restart({ failing: true }, run(true));
    assert.deepEqual(kube.api.writes().map((c) => [c.method, c.pathname, c.query]), [["DELETE", `${PODS_PATH}/gateway-7d9f-b`, { dryRun: "All" }]]);
  });

  it("reports stats from the pods and their gateway admin APIs", async () => {
    const stats = await driver.stats(run());
    assert.equal(stats.connections, 14);
    assert.equal(stats.limit, 2_000);
    assert.equal(stats.cacheMode, "normal");
    assert.deepEqual(stats.nodes.map((n) => [n.id, n.state, n.connections, n.safeguardStuck]), [
      ["gateway-7d9f-a", "ready", 7, false],
      ["gateway-7d9f-b", "ready", 7, false],
    ]);
  });

  it("switches cache mode through each pod's gateway admin API; a dry run only checks they answer", async () => {
    const dry = await driver.setCacheMode("bypass", run(true));
    assert.deepEqual(admin.calls.map((c) => `${c.method} ${c.pathname}`), ["GET /nodes", "GET /nodes"]);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(kube.api.writes(), []);
    admin.clear();
    const outcome = await driver.setCacheMode("bypass", run());
    assert.deepEqual(admin.calls.map((c) => [c.method, c.pathname, c.json, c.headers.authorization]), [
      ["POST", "/cache-mode", { mode: "bypass" }, `Bearer ${ADMIN_TOKEN}`],
      ["POST", "/cache-mode", { mode: "bypass" }, `Bearer ${ADMIN_TOKEN}`],
    ]);
    assert.equal(outcome.summary, "Switched the gateway cache mode to bypass on 2 of 2 pods.");
  });

  it("turns a 403 into an error naming the missing permission (verb, resource, group, namespace) and the API server's message", async () => {
    const refusal = 'deployments.apps "gateway" is forbidden: User "system:serviceaccount:live:pulseboard" cannot patch resource "deployments/scale" in API group "apps" in the namespace "live"';
    kube.api.once("PATCH", `${DEPLOYMENT_PATH}/scale`, { status: 403, body: status(403, "Forbidden", refusal, { name: DEPLOY, group: "apps", kind: "deployments" }) });
    await assert.rejects(driver.scale(3, run()), (err: Error) => {
      assert.ok(err instanceof FleetPermissionError, String(err));
      assert.equal(err.retryable, false);
      assert.equal(
        err.message,
        `the Kubernetes API server refused to patch scale of deployment "gateway" in namespace "live" (403 Forbidden): grant the "patch" verb on "deployments/scale" (API group "apps") in namespace "live" to the account Pulseboard uses: ${refusal}`,
      );
      return true;
    });

    kube.api.once("GET", PODS_PATH, { status: 403, body: status(403, "Forbidden", 'pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "live"') });
    await assert.rejects(driver.nodes(run()), /refused to list pods in namespace "live" \(403 Forbidden\): grant the "list" verb on "pods" \(the core API group\)/);
  });

  it("says when the API server cannot be reached, as a retryable failure naming it", async () => {
    await kube.api.stop();
    await assert.rejects(driver.nodes(run()), (err: Error) => {
      assert.ok(err instanceof FleetUpstreamError);
      assert.equal(err.retryable, true);
      assert.match(err.message, new RegExp(`could not reach the Kubernetes API server at http://127\\.0\\.0\\.1:${kube.api.port} to get deployment "gateway"`));
      return true;
    });
    kube = await startFakeKube({ namespace: NS, deployment: DEPLOY });
  });

  it("fails a kubeconfig context that does not exist with a config error", async () => {
    const broken = createDriver(kube, { context: "production" });
    await assert.rejects(broken.nodes(run()), /fleet\.context: the kubeconfig has no context "production" \(contexts: contract\)/);
  });
});
