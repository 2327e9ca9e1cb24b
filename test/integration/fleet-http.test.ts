import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { createFleetDriver, FleetConfigError, FleetNodeNotFound, FleetPermissionError, FleetUpstreamError, FleetValidationError, type FleetDriver } from "../../src/fleet/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { HttpReceiver } from "../helpers/receivers.ts";

/** The http fleet driver against a real receiver standing in for the user's own automation endpoints. */

const HOOK_TOKEN = "Bearer ops-hook-token-5d1e9b";
const run = (dryRun = false) => ({ signal: AbortSignal.timeout(10_000), dryRun });

function driverFor(settings: Record<string, unknown>): FleetDriver {
  return createFleetDriver({ fleet: { driver: "http", settings, inCluster: false }, gateway: { adminUrl: "http://127.0.0.1:9", adminToken: undefined } }, testLog());
}

describe("http fleet driver", { timeout: 60_000 }, () => {
  let hooks: HttpReceiver;
  let driver: FleetDriver;
  const settings = () => ({
    restart: { url: hooks.url("/hooks/restart?sig=s3cr3t-in-query") },
    scale: { url: hooks.url("/hooks/scale"), method: "PUT" },
    cache_mode: { url: hooks.url("/hooks/cache-mode") },
    nodes: { url: hooks.url("/fleet/nodes") },
    headers: { authorization: HOOK_TOKEN },
    timeout: "2s",
    max_replicas: 8,
  });

  before(async () => {
    hooks = await HttpReceiver.start({ status: 200, body: { ok: true } });
  });

  beforeEach(() => {
    hooks.requests.length = 0;
    driver = driverFor(settings());
  });

  after(() => hooks.stop());

  it("POSTs a restart order with the configured headers and dry_run: false", async () => {
    const outcome = await driver.restart({ rolling: true }, run());
    const [request] = hooks.requests;
    assert.equal(request!.method, "POST");
    assert.equal(request!.path, "/hooks/restart?sig=s3cr3t-in-query");
    assert.equal(request!.headers.authorization, HOOK_TOKEN);
    assert.equal(request!.headers["content-type"], "application/json");
    assert.deepEqual(request!.json, { action: "restart", target: { rolling: true }, dry_run: false });
    assert.equal(outcome.dryRun, false);
    assert.equal(outcome.summary, `The restart endpoint (${hooks.url("/hooks/restart")}) accepted the order to restart every node, one by one (200).`);
    assert.ok(!outcome.summary.includes("s3cr3t"), "the query (which may hold a secret) stays out of the timeline");
  });

  it("words the outcome with the endpoint's own summary when it gives one", async () => {
    hooks.answer({ status: 202, body: { summary: "Rolled gw-3 via Nomad (job 8812)." } });
    const outcome = await driver.restart({ failing: true }, run());
    assert.deepEqual(hooks.requests[0]!.json, { action: "restart", target: { failing: true }, dry_run: false });
    assert.equal(outcome.summary, "Rolled gw-3 via Nomad (job 8812).");
    assert.deepEqual(outcome.details, { answer: { summary: "Rolled gw-3 via Nomad (job 8812)." } });
  });

  it("checks a named node against the nodes endpoint first", async () => {
    hooks.answer({ body: { nodes: [{ id: "gw-1", state: "ready", connections: 40 }, { id: "gw-2", state: "unresponsive", safeguard_stuck: true }] } });
    await assert.rejects(driver.restart({ node: "gw-9" }, run()), (err: Error) => err instanceof FleetNodeNotFound && err.message === 'the fleet has no node "gw-9" (nodes: gw-1, gw-2)');
    assert.deepEqual(hooks.requests.map((r) => `${r.method} ${r.path}`), ["GET /fleet/nodes"], "no restart order was sent");

    hooks.answer({ body: { nodes: [{ id: "gw-1", state: "ready" }, { id: "gw-2", state: "unresponsive" }] } });
    await driver.restart({ node: "gw-2" }, run());
    assert.deepEqual(hooks.requests.at(-1)!.json, { action: "restart", target: { node: "gw-2" }, dry_run: false });
  });

  it("scales with the configured method, within the replica bounds", async () => {
    await driver.scale(5, run());
    assert.equal(hooks.requests[0]!.method, "PUT");
    assert.deepEqual(hooks.requests[0]!.json, { action: "scale", replicas: 5, dry_run: false });
    await assert.rejects(driver.scale(9, run()), (err: Error) => err instanceof FleetValidationError && /from 1 to 8/.test(err.message));
    assert.equal(hooks.requests.length, 1);
  });

  it("sends dry_run: true and says nothing was changed", async () => {
    const outcome = await driver.setCacheMode("bypass", run(true));
    assert.deepEqual(hooks.requests[0]!.json, { action: "cache_mode", mode: "bypass", dry_run: true });
    assert.equal(outcome.dryRun, true);
    assert.match(outcome.summary, /accepted a dry run to switch the cache mode to bypass\. Nothing was changed \(dry run\)\.$/);
  });

  it("names the endpoint, the status and the first 200 characters of the body on a non-2xx answer", async () => {
    const body = `upstream nomad said: ${"x".repeat(300)}`;
    hooks.answer({ status: 502, body });
    await assert.rejects(driver.scale(3, run()), (err: Error) => {
      assert.ok(err instanceof FleetUpstreamError);
      assert.equal(err.retryable, true);
      assert.equal(err.message, `the scale endpoint (${hooks.url("/hooks/scale")}) answered 502 to PUT ${hooks.url("/hooks/scale")}: ${body.slice(0, 200)}`);
      return true;
    });
    hooks.answer({ status: 403, body: "token expired" });
    await assert.rejects(driver.restart({ rolling: true }, run()), (err: Error) => {
      assert.ok(err instanceof FleetPermissionError);
      assert.equal(err.message, `the restart endpoint (${hooks.url("/hooks/restart")}) answered 403 to POST ${hooks.url("/hooks/restart")}: token expired`);
      return true;
    });
    hooks.answer({ status: 422, body: { error: "replicas above quota" } });
    await assert.rejects(driver.scale(4, run()), (err: Error) => err instanceof FleetValidationError && err.message.endsWith('answered 422 to PUT ' + hooks.url("/hooks/scale") + ': {"error":"replicas above quota"}'));
  });

  it("gives up at its timeout and says which endpoint did not answer", async () => {
    driver = driverFor({ ...settings(), timeout: "300ms" });
    hooks.answer({ delayMs: 2_000 });
    const started = Date.now();
    await assert.rejects(driver.setCacheMode("normal", run()), /the cache_mode endpoint \(http:\/\/127\.0\.0\.1:\d+\/hooks\/cache-mode\) did not answer POST .* before the deadline/);
    assert.ok(Date.now() - started < 1_500);
  });

  it("lists nodes and sums stats from the nodes endpoint; refuses an answer that is not a node list", async () => {
    hooks.answer({ body: [{ id: "gw-1", state: "ready", connections: 40, address: "10.0.0.7:4000" }, { id: "gw-2", connections: 2 }] });
    assert.deepEqual(await driver.nodes(run()), [
      { id: "gw-1", state: "ready", connections: 40, safeguardStuck: undefined, address: "10.0.0.7:4000" },
      { id: "gw-2", state: "ready", connections: 2, safeguardStuck: undefined, address: undefined },
    ]);
    hooks.answer({ body: { nodes: [{ id: "gw-1", connections: 40 }, { id: "gw-2", connections: 2 }] } });
    const stats = await driver.stats(run());
    assert.equal(stats.connections, 42);
    assert.equal(hooks.requests.at(-1)!.headers.authorization, HOOK_TOKEN);
    hooks.answer({ body: { servers: ["gw-1"] } });
    await assert.rejects(driver.nodes(run()), /the nodes endpoint \(.*\/fleet\/nodes\) answered with something that is not the expected JSON/);
  });

  it("says which endpoint is missing when an action has none", async () => {
    driver = driverFor({ restart: { url: hooks.url("/hooks/restart") } });
    await assert.rejects(driver.scale(2, run()), (err: Error) => err instanceof FleetConfigError && err.message === "the http fleet driver has no fleet.scale.url, so it cannot scale to 2 nodes");
    await assert.rejects(driver.nodes(run()), /cannot list nodes: set fleet\.nodes\.url/);
  });

  it("is configured under fleet:, with ${VAR} headers and errors that name fleet.<field>", async () => {
    const yaml = (fleet: string) => `locations: [{ id: here }]\ncomponents: [{ id: chat, name: Chat }]\nfleet:\n${fleet}`;
    const config = await configFrom(yaml(`  driver: http\n  restart: { url: "${hooks.url("/hooks/restart")}" }\n  headers: { authorization: "Bearer \${OPS_TOKEN}" }\n`), { OPS_TOKEN: "from-env-123" });
    assert.equal(config.fleet.driver, "http");
    await driverFor(config.fleet.settings).restart({ rolling: true }, run());
    assert.equal(hooks.requests[0]!.headers.authorization, "Bearer from-env-123");
    await assert.rejects(configFrom(yaml("  driver: http\n  restart: { url: ftp://x }\n  timeout: 10\n")), (err: Error) => {
      assert.match(err.message, /fleet\.restart\.url: expected an HTTP URL/);
      assert.match(err.message, /fleet\.timeout: expected a duration like "10s", got 10/);
      return true;
    });
    await assert.rejects(configFrom(yaml("  driver: http\n")), /fleet: give at least one action endpoint: restart, scale or cache_mode/);
  });
});
