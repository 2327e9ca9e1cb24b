import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { createFleetDriver, FleetNodeNotFound, FleetPermissionError, FleetUpstreamError, type FleetDriver } from "../../src/fleet/index.ts";
import { testLog } from "../helpers/config.ts";
import { FLEET_TOKEN, POD_IPS, startPodGateways, type TestFleet } from "../helpers/fleet.ts";
import { DRIVER_ROLE, startFakeKube, withoutVerb, type FakeKube } from "../helpers/kube-api.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * CONTRACT test of the kubernetes fleet driver: no cluster here, so the
 * driver talks to a stand-in API server on loopback (through a real
 * kubeconfig with a bearer token) and the test pins down exactly what it
 * sends: method, path, query (dryRun=All in a dry run), content type and
 * body, as `kubectl scale` / `kubectl rollout restart` / `kubectl delete pod`
 * would. The stand-in authenticates the bearer token and authorizes every
 * verb against an RBAC role (by default exactly the one pulseboard.yaml
 * documents), so a driver that sent no token or used another verb fails
 * here as it would in a cluster. Each pod is a real `pulseboard gateway`
 * (pod a at 127.0.0.1, pod b at ::1, admin API on the same port), so what
 * the driver reads and changes through the pods' admin API is real.
 */

const NS = "live";
const DEPLOY = "gateway";
const DEPLOYMENT_PATH = `/apis/apps/v1/namespaces/${NS}/deployments/${DEPLOY}`;
const PODS_PATH = `/api/v1/namespaces/${NS}/pods`;
const SELECTOR = "app=pulseboard-gateway,tier=edge";
const POD_A = "gateway-7d9f-a";
const POD_B = "gateway-7d9f-b";

function createDriver(kube: FakeKube, extra: Record<string, unknown> = {}): FleetDriver {
  return createFleetDriver({ fleet: { driver: "kubernetes", settings: kube.settings(extra), inCluster: false }, gateway: { adminUrl: "http://127.0.0.1:9", adminToken: undefined } }, testLog());
}

const run = (dryRun = false) => ({ signal: AbortSignal.timeout(10_000), dryRun });

/** What one pod's own gateway says through its admin API. */
async function gatewayStats(gateway: TestFleet): Promise<{ mode: string; connections: number; limit: number; stuck: boolean }> {
  const { body } = await gateway.admin("GET", "/stats");
  const node = body.nodes[0];
  return { mode: body.mode, connections: body.total.connections, limit: node.stats.safeguard.limit, stuck: node.stats.safeguard.stuck };
}

describe("kubernetes fleet driver (CONTRACT: recorded Kubernetes API, real gateways in the pods)", { timeout: 120_000 }, () => {
  let kube: FakeKube;
  let driver: FleetDriver;
  let redis: TestRedis;
  /** gateways[0] is pod a's, gateways[1] pod b's. */
  let gateways: TestFleet[];
  let adminPort: number;
  const clients: TestClient[] = [];

  before(async () => {
    redis = await startRedis();
    ({ adminPort, gateways } = await startPodGateways({ hosts: POD_IPS, cacheUrl: redis.url }));
  });

  beforeEach(async () => {
    await kube?.stop();
    kube = await startFakeKube({ namespace: NS, deployment: DEPLOY, pods: [{ name: POD_A, ip: POD_IPS[0] }, { name: POD_B, ip: POD_IPS[1] }] });
    driver = createDriver(kube, { admin_port: adminPort, admin_token: FLEET_TOKEN });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await waitFor("the pods' gateways to have no clients", async () => (await Promise.all(gateways.map(gatewayStats))).every((s) => s.connections === 0));
  });

  after(async () => {
    await kube?.stop();
    await Promise.all((gateways ?? []).map((g) => g.stop()));
    await redis?.stop();
  });

  it("lists the Deployment's pods by the Deployment's own selector, authenticated by the kubeconfig's token", async () => {
    const nodes = await driver.nodes(run());
    assert.ok(nodes.every((n) => n.startedAt && !Number.isNaN(Date.parse(n.startedAt))), "each pod's start time, so a restart can be told from none");
    assert.deepEqual(nodes.map(({ startedAt: _, ...n }) => n), [
      { id: POD_A, state: "ready", address: "127.0.0.1" },
      { id: POD_B, state: "ready", address: "::1" },
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
    driver = createDriver(kube, { admin_port: adminPort, label_selector: "app=edge" });
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
    assert.ok(Date.parse(at) >= before - 1_000 && Date.parse(at) <= Date.now(), `restartedAt ${at} is now`);
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
      assert.ok(err instanceof FleetNodeNotFound, String(err));
      assert.equal(err.message, 'the fleet has no node "postgres-0" (nodes: gateway-7d9f-a, gateway-7d9f-b)');
      return true;
    });
    assert.deepEqual(kube.api.writes(), []);
  });

  it("restarts only the failing pods: not Ready for a minute, or the safeguard stuck (as the pod's real gateway reports it)", async (t) => {
    kube.state.pods[0]!.ready = false;
    const outcome = await driver.restart({ failing: true }, run());
    assert.deepEqual(kube.api.writes().map((c) => `${c.method} ${c.pathname}`), [`DELETE ${PODS_PATH}/${POD_A}`]);
    assert.match(outcome.summary, new RegExp(`Deleted 1 failing pod .*${POD_A} \\(unresponsive\\)`));

    // Lock pod b's safeguard for real and have it refuse a client: only its own gateway's admin API can tell the driver.
    const gateway = gateways[1]!;
    assert.equal((await gateway.admin("POST", "/nodes/node-0/faults", { fault: "lock-safeguard", duration: "20s" })).status, 200);
    try {
      const refused = await TestClient.connect(gateway.url(0));
      clients.push(refused);
      assert.equal((await refused.next((f) => f.type === "error")).code, "over_capacity");
      const started = Date.now();
      await waitFor("pod b's gateway to report its safeguard stuck", async () => (await gatewayStats(gateway)).stuck, 5_000);
      t.diagnostic(`pod b's gateway reported its safeguard stuck after ${Date.now() - started} ms`);
      kube.api.clear();
      const dry = await driver.restart({ failing: true }, run(true));
      assert.deepEqual(kube.api.writes().map((c) => [c.method, c.pathname, c.query]), [["DELETE", `${PODS_PATH}/${POD_B}`, { dryRun: "All" }]]);
      assert.match(dry.summary, new RegExp(`${POD_B} \\(safeguard stuck\\)`));
    } finally {
      await gateway.admin("DELETE", "/nodes/node-0/faults");
      // A client let in again ends "stuck" at once, so later tests see a healthy pod.
      await TestClient.welcomed(gateway.url(0), clients);
      await waitFor("pod b's safeguard to be healthy again", async () => !(await gatewayStats(gateway)).stuck, 5_000);
    }
  });

  it("reports stats from the pods and the real gateways behind their admin APIs", async () => {
    for (let i = 0; i < 3; i++) await TestClient.welcomed(gateways[0]!.url(0), clients);
    for (let i = 0; i < 2; i++) await TestClient.welcomed(gateways[1]!.url(0), clients);
    const own = await waitFor("each pod's gateway to count its clients", async () => {
      const each = await Promise.all(gateways.map(gatewayStats));
      return each[0]!.connections === 3 && each[1]!.connections === 2 && each;
    });
    const stats = await driver.stats(run());
    assert.equal(stats.connections, 5);
    assert.equal(stats.limit, own[0]!.limit + own[1]!.limit, "the sum of each pod's safeguard limit, as its gateway reports it");
    assert.ok(stats.limit! > 0, `limit ${stats.limit}`);
    assert.equal(stats.cacheMode, "normal");
    assert.deepEqual(stats.nodes.map((n) => [n.id, n.state, n.address, n.connections, n.safeguardStuck]), [
      [POD_A, "ready", "127.0.0.1", 3, false],
      [POD_B, "ready", "::1", 2, false],
    ]);
  });

  it("switches cache mode on each pod's real gateway; a dry run only checks they answer; a wrong admin token switches none", async () => {
    const modes = async () => (await Promise.all(gateways.map(gatewayStats))).map((s) => s.mode);
    const dry = await driver.setCacheMode("bypass", run(true));
    assert.equal(dry.dryRun, true);
    assert.match(dry.summary, /on 2 pods; 2 of them answered/);
    assert.deepEqual(await modes(), ["normal", "normal"], "the dry run left both gateways alone");
    assert.deepEqual(kube.api.writes(), []);

    const wrongToken = createDriver(kube, { admin_port: adminPort, admin_token: "not-the-gateway-admin-token" });
    await assert.rejects(wrongToken.setCacheMode("bypass", run()), (err: Error) => {
      assert.ok(err instanceof FleetUpstreamError, String(err));
      assert.match(err.message, new RegExp(`^no pod of deployment "gateway" switched its cache mode to bypass: ${POD_A}: the gateway admin API at 127\\.0\\.0\\.1:${adminPort} refused the token \\(401\\)`));
      assert.match(err.message, new RegExp(`; ${POD_B}: the gateway admin API at \\[::1\\]:${adminPort} refused the token \\(401\\)`));
      return true;
    });
    assert.deepEqual(await modes(), ["normal", "normal"]);

    try {
      const outcome = await driver.setCacheMode("bypass", run());
      assert.equal(outcome.summary, "Switched the gateway cache mode to bypass on 2 of 2 pods.");
      assert.deepEqual(await modes(), ["bypass", "bypass"]);
      assert.equal((await driver.stats(run())).cacheMode, "bypass");
    } finally {
      await driver.setCacheMode("normal", run());
    }
    assert.deepEqual(await modes(), ["normal", "normal"]);
  });

  it("the stand-in API server authenticates and authorizes before it routes, as the real one does", async () => {
    const get = (token?: string) => fetch(kube.api.url(DEPLOYMENT_PATH), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    for (const token of [undefined, "not-the-token"]) {
      const res = await get(token);
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 });
    }
    assert.equal((await get(kube.token)).status, 200);
    const create = await fetch(kube.api.url(`/apis/apps/v1/namespaces/${NS}/deployments`), { method: "POST", headers: { authorization: `Bearer ${kube.token}`, "content-type": "application/json" }, body: "{}" });
    assert.equal(create.status, 403);
    assert.deepEqual(await create.json(), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `deployments.apps is forbidden: User "${kube.user}" cannot create resource "deployments" in API group "apps" in the namespace "live"`,
      reason: "Forbidden",
      details: { group: "apps", kind: "deployments" },
      code: 403,
    });
    assert.deepEqual(kube.access.map((a) => [a.verb, a.resource, a.decision]), [
      ["get", "deployments", "unauthorized"],
      ["get", "deployments", "unauthorized"],
      ["get", "deployments", "allowed"],
      ["create", "deployments", "forbidden"],
    ]);
  });

  it("names the 401 when the kubeconfig's token is wrong or missing, and changes nothing", async () => {
    for (const token of ["not-the-kube-token", undefined]) {
      const stranger = createDriver(kube, { kubeconfig: kube.kubeconfigWith(token), label_selector: SELECTOR });
      await assert.rejects(stranger.scale(3, run()), (err: Error) => {
        assert.ok(err instanceof FleetPermissionError, String(err));
        assert.equal(err.retryable, false);
        // The client library drops a 401's Status body, so the driver's own words are all there is.
        assert.equal(
          err.message,
          `the Kubernetes API server at ${kube.api.url()} did not accept our credentials (401) to patch scale of deployment "gateway" in namespace "live": check the kubeconfig's user or the service account token`,
        );
        return true;
      });
      await assert.rejects(stranger.nodes(run()), /did not accept our credentials \(401\) to list pods in namespace "live": check the kubeconfig's user or the service account token$/);
    }
    assert.equal(kube.state.replicas, 2);
    assert.deepEqual(new Set(kube.access.map((a) => a.decision)), new Set(["unauthorized"]));
  });

  it("turns a 403 into an error naming the missing permission (verb, resource, group, namespace) and the API server's message; nothing changes", async () => {
    const refusal = (verb: string, resource: string) =>
      `${resource.startsWith("deployments") ? 'deployments.apps "gateway"' : "pods"} is forbidden: User "system:serviceaccount:live:pulseboard" cannot ${verb} resource "${resource}" in API group "${resource.startsWith("deployments") ? "apps" : ""}" in the namespace "live"`;

    kube.role = withoutVerb(DRIVER_ROLE, "deployments", "patch");
    for (const dryRun of [false, true]) {
      // A dry run is authorized like the real thing: that is how it finds a missing permission before an incident needs it.
      await assert.rejects(driver.restart({ rolling: true }, run(dryRun)), (err: Error) => {
        assert.ok(err instanceof FleetPermissionError, String(err));
        assert.equal(err.retryable, false);
        assert.equal(
          err.message,
          `the Kubernetes API server refused to patch deployment "gateway" in namespace "live" (403 Forbidden): grant the "patch" verb on "deployments" (API group "apps") in namespace "live" to the account Pulseboard uses: ${refusal("patch", "deployments")}`,
        );
        return true;
      });
    }
    assert.equal(kube.state.restartedAt, undefined, "the refused restart left the Deployment alone");
    assert.equal((await driver.scale(3, run())).dryRun, false, "patching the scale subresource is a permission of its own");

    kube.role = withoutVerb(DRIVER_ROLE, "deployments/scale", "patch");
    await assert.rejects(driver.scale(4, run()), (err: Error) => {
      assert.ok(err instanceof FleetPermissionError, String(err));
      assert.equal(
        err.message,
        `the Kubernetes API server refused to patch scale of deployment "gateway" in namespace "live" (403 Forbidden): grant the "patch" verb on "deployments/scale" (API group "apps") in namespace "live" to the account Pulseboard uses: ${refusal("patch", "deployments/scale")}`,
      );
      return true;
    });
    assert.equal(kube.state.replicas, 3, "the refused scale left the replicas alone");

    kube.role = withoutVerb(DRIVER_ROLE, "pods", "delete");
    await assert.rejects(driver.restart({ node: POD_A }, run()), /refused to delete pod "gateway-7d9f-a" in namespace "live" \(403 Forbidden\): grant the "delete" verb on "pods" \(the core API group\)/);
    assert.deepEqual(kube.state.pods.map((p) => p.name), [POD_A, POD_B]);

    kube.role = withoutVerb(DRIVER_ROLE, "pods", "list");
    await assert.rejects(driver.nodes(run()), (err: Error) => {
      assert.match(err.message, /refused to list pods in namespace "live" \(403 Forbidden\): grant the "list" verb on "pods" \(the core API group\)/);
      assert.ok(err.message.endsWith(refusal("list", "pods")), err.message);
      return true;
    });
  });

  it("needs exactly the documented role: every permission in it is used, and nothing else is asked for", async () => {
    kube.state.pods[0]!.ready = false;
    for (const dryRun of [true, false]) {
      await driver.nodes(run(dryRun));
      await driver.stats(run(dryRun));
      await driver.scale(3, run(dryRun));
      await driver.restart({ rolling: true }, run(dryRun));
      await driver.restart({ failing: true }, run(dryRun));
    }
    await driver.setCacheMode("bypass", run(true));
    await driver.restart({ node: POD_B }, run());
    assert.deepEqual(kube.access.filter((a) => a.decision !== "allowed"), [], "no request was refused");
    const used = new Set(kube.access.map((a) => `${a.verb} ${a.resource} (${a.group || "core"})`));
    const granted = new Set(DRIVER_ROLE.flatMap((rule) => rule.verbs.map((verb) => `${verb} ${rule.resources[0]} (${rule.apiGroups[0] || "core"})`)));
    assert.deepEqual(used, granted);
    for (const call of kube.api.calls) assert.equal(call.headers.authorization, `Bearer ${kube.token}`);
  });

  it("says when the API server cannot be reached, as a retryable failure naming it", async () => {
    await kube.api.stop();
    await assert.rejects(driver.nodes(run()), (err: Error) => {
      assert.ok(err instanceof FleetUpstreamError, String(err));
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
