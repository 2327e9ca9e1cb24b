import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { createFleetDriver } from "../../src/fleet/index.ts";
import { testLog } from "../helpers/config.ts";
import { ConsoleClient, csrfOf, issuesOf } from "../helpers/console.ts";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { waitFor } from "../helpers/wait.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * The console's fleet page against a real gateway fleet (`pulseboard
 * gateway` as its own process tree, two nodes), read and ordered through the
 * `local` fleet driver as the web role does, and the web app over real HTTP
 * with a real redis-server, driven like a browser without JavaScript.
 */

const TOKEN = "console-fleet-bootstrap-token-0123456789";
const MIB = "9".repeat(1024 * 1024);
const SCRIPT = "<script>alert(1)</script>";
const YAML = `
page: { name: Fleet, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
`;

interface GatewayNode {
  id: string;
  state: string;
  connections: number | null;
  intake: string | null;
  restarts: number;
  started_at: string;
}

/** The table row of one node on the fleet page. */
function nodeRowOf(html: string, node: string): string {
  const row = html.split(`<tr data-node="${node}">`)[1]?.split("</tr>")[0];
  assert.ok(row, `the page lists ${node}`);
  return row;
}

/** A node row's cells by their labels. */
function cellsOf(row: string): Record<string, string> {
  const cells: Record<string, string> = {};
  for (const m of row.matchAll(/<t[hd][^>]*data-label="([^"]+)">([\s\S]*?)<\/t[hd]>/g)) cells[m[1]!] = m[2]!.replace(/<[^>]+>/g, "").trim();
  return cells;
}

async function listen(app: http.RequestListener): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("console fleet page (a real gateway fleet process, the local fleet driver, real redis-server, real HTTP)", { timeout: 180_000 }, () => {
  let fleet: TestFleet;
  let rig: WebRig;
  let server: http.Server;
  let base: string;
  let admin: ConsoleClient;
  let reader: ConsoleClient;
  const clients: TestClient[] = [];

  const api = async (method: string, pathname: string, body?: unknown, token = TOKEN) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const gatewayNodes = async () => (await fleet.admin("GET", "/nodes")).body.nodes as GatewayNode[];
  const gatewayNode = async (id: string) => (await gatewayNodes()).find((n) => n.id === id)!;

  before(async () => {
    fleet = await startTestFleet({ nodes: 2 });
    const driver = createFleetDriver({ fleet: { driver: "local", settings: {}, inCluster: false }, gateway: { adminUrl: fleet.adminUrl, adminToken: fleet.token } }, testLog());
    rig = await startWebRig(YAML, { tokens: [TOKEN], fleet: { driver } });
    ({ server, base } = await listen(rig.app));
    admin = new ConsoleClient(base);
    await admin.signIn(TOKEN);
    const viewer = await api("POST", "/tokens", { name: "viewer", scopes: ["read"] });
    reader = new ConsoleClient(base);
    await reader.signIn(viewer.body.token);
  });

  after(async () => {
    for (const client of clients) client.ws.terminate();
    server?.close();
    await rig?.stop();
    await fleet?.stop();
  });

  it("lists the fleet's nodes with their state, connections, intake and restarts, as the gateway reports them", async () => {
    clients.push(await TestClient.connect(fleet.url(0)));
    await waitFor("node-0 to count its client", async () => (await gatewayNode("node-0")).connections === 1, 10_000, 100);
    const page = await admin.get("/admin/fleet");
    assert.equal(page.status, 200);
    const nodes = await gatewayNodes();
    assert.deepEqual(nodes.map((n) => n.id), ["node-0", "node-1"]);
    for (const node of nodes) {
      const cells = cellsOf(nodeRowOf(page.text, node.id));
      assert.equal(cells.Node, node.id);
      assert.equal(cells.State, "ready");
      assert.equal(cells.Connections, String(node.connections));
      assert.equal(cells.Intake, node.intake ?? "–");
      assert.equal(cells.Restarts, "0");
      assert.match(cells.Started!, /UTC$/, "times in UTC");
    }
    assert.equal(cellsOf(nodeRowOf(page.text, "node-0")).Connections, "1");
    assert.match(page.text, /Cache mode <strong>bypass<\/strong>/);
    assert.match(page.text, /<strong>2<\/strong> of 2 nodes ready/);
    assert.match(page.text, /<a href="\/admin\/fleet" id="fleet-refresh">Refresh<\/a>/, "a Refresh link for browsers without JavaScript");
    assert.match(page.text, /<script src="\/static\/console-fleet\.js" defer><\/script>/);
    assert.match(page.text, /data-live-url="\/admin\/fleet\/live" data-refresh-ms="5000"/);
    for (const button of ["Restart node-0…", "Restart node-1…", "Restart every node…", "Switch…", "Scale…"]) assert.ok(page.text.includes(`>${button}</button>`), `offers ${button}`);

    const live = await admin.get("/admin/fleet/live");
    assert.equal(live.status, 200);
    assert.ok(!live.text.includes("<html"), "the live part alone, without the layout");
    assert.equal(cellsOf(nodeRowOf(live.text, "node-0")).Connections, "1");
    const json = await api("GET", "/fleet");
    assert.equal(json.status, 200);
    assert.equal(json.body.driver, "local");
    assert.equal(json.body.cache_mode, "bypass");
    assert.deepEqual(json.body.actions, ["restart", "scale", "cache_mode"]);
    assert.deepEqual(json.body.nodes.map((n: { id: string; connections: number; restarts: number }) => [n.id, n.connections, n.restarts]), [["node-0", 1, 0], ["node-1", 0, 0]]);
  });

  it("a restart asks for confirmation (with the driver's dry run), and only then restarts the node: its restart count goes up", async () => {
    const before = await gatewayNode("node-0");
    const confirm = await admin.get("/admin/fleet/nodes/node-0/restart");
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /<h1 id="confirm-heading">Restart node-0\?<\/h1>/);
    assert.match(confirm.text, /<strong>The fleet driver's dry run:<\/strong> Would restart node-0 \(ready, 1 client\); its clients would reconnect to the other nodes\. Nothing was changed \(dry run\)\./);
    assert.match(confirm.text, /<form class="form" method="post" action="\/admin\/fleet\/nodes\/node-0\/restart"><input type="hidden" name="_csrf" value="[^"]+"><input type="hidden" name="confirm" value="yes">/);
    assert.match(confirm.text, /<button type="submit">Restart node-0<\/button><a href="\/admin\/fleet">Cancel<\/a>/);
    assert.equal((await gatewayNode("node-0")).restarts, before.restarts, "the dry run restarted nothing");

    const unconfirmed = await admin.post("/admin/fleet/nodes/node-0/restart", { _csrf: csrfOf(confirm.text) });
    assert.equal(unconfirmed.status, 400);
    assert.deepEqual(issuesOf(unconfirmed.text), ['Not confirmed, so nothing was done: press "Restart node-0" below to carry it out.']);
    assert.equal((await gatewayNode("node-0")).restarts, before.restarts, "an unconfirmed order restarted nothing");

    const done = await admin.post("/admin/fleet/nodes/node-0/restart", { _csrf: csrfOf(confirm.text), confirm: "yes" });
    assert.equal(done.status, 303, done.text);
    assert.equal(done.location, "/admin/fleet?done=restart");
    const after = await gatewayNode("node-0");
    assert.equal(after.restarts, before.restarts + 1, "the gateway counts the restart");
    assert.notEqual(after.started_at, before.started_at, "a fresh node-0");
    assert.equal((await clients[0]!.closed(5_000)).code, 1012, "its client was told to reconnect elsewhere");
    const page = await admin.get("/admin/fleet?done=restart");
    assert.match(page.text, /<p class="flash" role="status">Node restarted\.<\/p>/);
    await waitFor("node-0 ready again", async () => (await gatewayNode("node-0")).state === "ready", 10_000, 100);
    const cells = cellsOf(nodeRowOf((await admin.get("/admin/fleet")).text, "node-0"));
    assert.equal(cells.Restarts, "1");
    assert.equal(cells.State, "ready");
    assert.equal(cellsOf(nodeRowOf((await admin.get("/admin/fleet/live")).text, "node-0")).Restarts, "1", "the live part says so too");

    const audit = (await api("GET", "/audit?limit=20")).body.entries as { actor: string; method: string; path: string; status: number }[];
    const entries = audit.filter((e) => e.path === "/admin/fleet/nodes/node-0/restart");
    assert.deepEqual(entries.map((e) => [e.actor, e.method, e.status]).sort(), [["admin", "POST", 303], ["admin", "POST", 400]], "both POSTs are in the audit log, the unconfirmed one as refused");
  });

  it("scales the fleet after confirmation; the admin API orders the fleet with the `fleet` scope only", async () => {
    const confirm = await admin.get("/admin/fleet/scale?nodes=3");
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /Scale the fleet to 3 nodes\?[\s\S]*Would scale the gateway fleet from 2 to 3 nodes\./);
    assert.match(confirm.text, /<input type="hidden" name="nodes" value="3">/);
    const scaled = await admin.post("/admin/fleet/scale", { _csrf: csrfOf(confirm.text), confirm: "yes", nodes: "3" });
    assert.equal(scaled.status, 303, scaled.text);
    assert.deepEqual((await gatewayNodes()).map((n) => n.id), ["node-0", "node-1", "node-2"]);

    const ops = await api("POST", "/tokens", { name: "ops", scopes: ["fleet"] });
    const oncall = await api("POST", "/tokens", { name: "oncall", scopes: ["incidents"] });
    const refused = await api("POST", "/fleet/scale", { nodes: 2 }, oncall.body.token);
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /lacks the "fleet" scope/);
    const dry = await api("POST", "/fleet/nodes/node-1/restart", { dry_run: true }, ops.body.token);
    assert.equal(dry.status, 200);
    assert.equal(dry.body.outcome.dry_run, true);
    assert.match(dry.body.outcome.summary, /^Would restart node-1/);
    assert.equal((await gatewayNode("node-1")).restarts, 0);
    const bad = await api("POST", "/fleet/scale", { nodes: "two", replicas: 2 }, ops.body.token);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.issues, ['replicas: not a field of this order (it takes "nodes", "dry_run")']);
    assert.equal((await api("POST", "/fleet/nodes/node-9/restart", {}, ops.body.token)).status, 404);
    const back = await api("POST", "/fleet/scale", { nodes: 2 }, ops.body.token);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.deepEqual((await gatewayNodes()).map((n) => n.id), ["node-0", "node-1"]);
  });

  it("a read token sees every fleet control disabled, gets no dry run, and its forged order is 403", async () => {
    const page = await reader.get("/admin/fleet");
    assert.equal(page.status, 200);
    assert.match(page.text, /Your token can read but not change probes or the fleet/);
    const fieldsets = page.text.match(/<fieldset class="controls"[^>]*>/g) ?? [];
    assert.equal(fieldsets.length, 5, "two node restarts, rolling restart, cache mode, scale");
    assert.ok(fieldsets.every((f) => f.includes(" disabled")), fieldsets.join(" "));
    const confirm = await reader.get("/admin/fleet/nodes/node-1/restart");
    assert.equal(confirm.status, 200);
    assert.ok(!confirm.text.includes("dry run:"), "no dry run for a token that may not order it");
    assert.match(confirm.text, /<fieldset class="controls confirm-buttons" disabled>/);
    const forged = await reader.post("/admin/fleet/nodes/node-1/restart", { _csrf: csrfOf(confirm.text), confirm: "yes" });
    assert.equal(forged.status, 403);
    assert.match(forged.text, /lacks the &quot;fleet&quot; scope that POST \/admin\/api\/fleet\/nodes\/node-1\/restart needs/);
    const noCsrf = await admin.post("/admin/fleet/nodes/node-1/restart", { confirm: "yes" });
    assert.equal(noCsrf.status, 403);
    assert.equal((await gatewayNode("node-1")).restarts, 0, "nothing was restarted");
  });

  it("bad orders name the field (Nodes, Cache mode) or the node, escaped, and change nothing", async () => {
    const { _csrf } = await admin.formOf("/admin/fleet");
    const cases: [string, number, string][] = [
      ["/admin/fleet/scale", 400, "Nodes: say how many nodes the fleet should run"],
      ["/admin/fleet/scale?nodes=", 400, "Nodes: say how many nodes the fleet should run"],
      ["/admin/fleet/scale?nodes=two", 400, 'Nodes: expected a whole number of nodes from 1 to 1000, not "two"'],
      ["/admin/fleet/scale?nodes=0", 400, 'Nodes: expected a whole number of nodes from 1 to 1000, not "0"'],
      [`/admin/fleet/scale?nodes=${encodeURIComponent(SCRIPT)}`, 400, 'Nodes: expected a whole number of nodes from 1 to 1000, not "<script>alert(1)</script>"'],
      ["/admin/fleet/scale?nodes=1&nodes=2", 400, "Nodes: sent more than once; send it once"],
      ["/admin/fleet/scale?nodes=99", 400, "The fleet driver refused a dry run of it: cannot scale to 99 nodes: replicas must be a whole number from 1 to 16 (fleet.min_replicas, fleet.max_replicas)"],
      [`/admin/fleet/cache-mode?mode=${encodeURIComponent(SCRIPT)}`, 400, 'Cache mode: expected "normal" or "bypass", not "<script>alert(1)</script>"'],
      ["/admin/fleet/nodes/node-9/restart", 404, 'The fleet driver refused a dry run of it: the fleet has no node "node-9" (nodes: node-0, node-1)'],
      [`/admin/fleet/nodes/${encodeURIComponent(SCRIPT)}/restart`, 404, "There is no such node: the link may be wrong."],
    ];
    for (const [pathname, status, issue] of cases) {
      const answer = await admin.get(pathname);
      assert.equal(answer.status, status, pathname);
      assert.deepEqual(issuesOf(answer.text), [issue], pathname);
      assert.ok(!answer.text.includes("<script>alert"), `${pathname}: nothing rendered unescaped`);
      assert.ok(!answer.text.includes('name="confirm"'), `${pathname}: nothing to confirm`);
    }
    const posts: [string, Record<string, string | string[]>, string][] = [
      ["/admin/fleet/scale", { nodes: MIB }, `Nodes: expected a whole number of nodes from 1 to 1000, not "${"9".repeat(40)}…"`],
      ["/admin/fleet/scale", { nodes: ["3", "4"] }, "Nodes: sent more than once; send it once"],
      ["/admin/fleet/cache-mode", { mode: "" }, 'Cache mode: choose "normal" or "bypass"'],
      ["/admin/fleet/cache-mode", { mode: MIB }, `Cache mode: expected "normal" or "bypass", not "${"9".repeat(40)}…"`],
    ];
    for (const [pathname, fields, issue] of posts) {
      const answer = await admin.post(pathname, { _csrf, confirm: "yes", ...fields });
      assert.equal(answer.status, 400, issue);
      assert.deepEqual(issuesOf(answer.text), [issue]);
      assert.ok(answer.text.length < 100_000, `a 1 MiB value is not sent back (${answer.text.length} bytes)`);
    }
    const nodes = await gatewayNodes();
    assert.deepEqual(nodes.map((n) => [n.id, n.state]), [["node-0", "ready"], ["node-1", "ready"]], "no node added or removed");
    assert.equal((await fleet.admin("GET", "/stats")).body.mode, "bypass", "the cache mode is unchanged");
  });

  it("offers only the orders the driver is set up for, and says so when the fleet cannot be read", async () => {
    let endpointsUp = true;
    const endpoints = await HttpReceiver.start({ body: { nodes: [{ id: "chat-1", state: "ready", connections: 7 }] } });
    const driver = createFleetDriver({ fleet: { driver: "http", settings: { nodes: { url: endpoints.url("/nodes") }, restart: { url: endpoints.url("/restart") } }, inCluster: false }, gateway: { adminUrl: "http://127.0.0.1:9", adminToken: undefined } }, testLog());
    const partial = await startWebRig(YAML, { tokens: [TOKEN], fleet: { driver } });
    const bare = await startWebRig(YAML, { tokens: [TOKEN] });
    const served = await Promise.all([listen(partial.app), listen(bare.app)]);
    try {
      const client = new ConsoleClient(served[0].base);
      await client.signIn(TOKEN);
      const page = await client.get("/admin/fleet");
      assert.equal(cellsOf(nodeRowOf(page.text, "chat-1")).Connections, "7");
      assert.match(page.text, />Restart chat-1…<\/button>/);
      assert.match(page.text, />Restart every node…<\/button>/);
      assert.ok(!page.text.includes("Switch…") && !page.text.includes("Scale…"), "no cache mode or scale form without their endpoints");
      const refused = await client.get("/admin/fleet/scale?nodes=2");
      assert.equal(refused.status, 503);
      assert.deepEqual(issuesOf(refused.text), ["The fleet driver refused a dry run of it: the http fleet driver is not set up to scale the fleet (fleet.scale is not set)"]);

      await endpoints.stop();
      endpointsUp = false;
      const down = await client.get("/admin/fleet");
      assert.equal(down.status, 200, "the page answers while the fleet does not");
      assert.match(down.text, /<p class="note" role="alert">The fleet could not be read: [^<]*\/nodes[^<]*<\/p>/);

      const none = new ConsoleClient(served[1].base);
      await none.signIn(TOKEN);
      const empty = await none.get("/admin/fleet");
      assert.equal(empty.status, 200);
      assert.match(empty.text, /The fleet could not be read: this web process was started without a fleet driver/);
      assert.ok(!empty.text.includes("Fleet actions"), "no orders without a driver");
      const blocked = await none.get("/admin/fleet/restart");
      assert.equal(blocked.status, 503);
      assert.deepEqual(issuesOf(blocked.text), ["The fleet cannot be reached: this web process was started without a fleet driver."]);
      assert.ok(!blocked.text.includes('name="confirm"'), "nothing to confirm");
      const res = await fetch(`${served[1].base}/admin/api/fleet`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { code: string }).code, "fleet_unavailable");
    } finally {
      if (endpointsUp) await endpoints.stop();
      for (const s of served) s.server.close();
      for (const s of served) s.server.closeAllConnections();
      await partial.stop();
      await bare.stop();
    }
  });
});
