import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TokenRecord } from "../../src/auth/index.ts";
import { ConsoleClient, csrfOf, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startOpsRig, type OpsRig } from "../helpers/console-ops.ts";

/**
 * The console's tokens and audit log pages on real parts: the web app over
 * real HTTP, tokens, sessions and the audit log in a real redis-server, and
 * every new token tried on the admin API.
 */

const MIB = "m".repeat(1024 * 1024);
const SCRIPT = "<script>alert(1)</script>";

/** The audit page's rows as [who, action, outcome] text. */
function auditRows(html: string): [string, string, string][] {
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? "";
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => {
    const cells = [...row[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => decodeEntities(c[1]!.replace(/<p class="help">[\s\S]*?<\/p>/g, "").replace(/<[^>]+>/g, "")).trim());
    return [cells[1]!, cells[2]!, cells[3]!];
  });
}

describe("console tokens and audit log (real redis-server, real HTTP)", { timeout: 60_000 }, () => {
  let rig: OpsRig;
  let alice: ConsoleClient;

  const tokens = async () => (await rig.api("GET", "/tokens")).body.tokens as TokenRecord[];
  const createForm = async (client: ConsoleClient, fields: Record<string, string | string[]>) => {
    const { _csrf } = await client.formOf("/admin/tokens");
    return client.post("/admin/tokens", { _csrf, name: "deploy-bot", scope: ["read", "incidents"], other: "", ...fields });
  };
  const signedIn = async (token: string) => {
    const client = new ConsoleClient(rig.base);
    await client.signIn(token);
    return client;
  };

  before(async () => {
    rig = await startOpsRig();
    const made = await rig.api("POST", "/tokens", { name: "alice", scopes: ["admin"] });
    alice = await signedIn((made.body as { token: string }).token);
  });

  after(async () => {
    await rig?.stop();
  });

  it("a new token is shown once, on the answer to the form, with a copy hint; it works on the API; it is never shown, stored or logged again", async () => {
    const answer = await createForm(alice, {});
    assert.equal(answer.status, 201, answer.text);
    const secret = /<input id="new-token" type="text" readonly value="([^"]+)"/.exec(answer.text)?.[1];
    assert.ok(secret && /^pb_[a-z0-9]{12}\.[A-Za-z0-9_-]{43}$/.test(secret), `the page shows the token (${secret})`);
    assert.match(answer.text, /<label for="new-token">New token<\/label>/);
    assert.match(answer.text, /<strong>Copy it now<\/strong>: select it and press Ctrl\+C/);
    assert.match(answer.text, /It is shown only this once/);

    const withIt = await fetch(`${rig.base}/admin/api/incidents`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(withIt.status, 200, "it reads the admin API");
    const opened = await rig.api("POST", "/incidents", { name: "Made by the bot", body: "Testing.", components: { chat: "degraded_performance" } }, secret);
    assert.equal(opened.status, 201, "it has the incidents scope it was given");
    const beyond = await rig.api("POST", "/tokens", { name: "sneaky", scopes: ["admin"] }, secret);
    assert.equal(beyond.status, 403, "and nothing more");
    const record = (await tokens()).find((t) => t.name === "deploy-bot")!;
    assert.deepEqual(record.scopes, ["read", "incidents"]);

    for (const pathname of ["/admin/tokens", "/admin/audit", `/admin/tokens/${record.id}/revoke`]) {
      const page = await alice.get(pathname);
      assert.equal(page.status, 200, pathname);
      assert.ok(!page.text.includes(secret.split(".")[1]!), `${pathname} never shows the token again`);
    }
    const stored = await rig.redis.client.keys("*");
    const values = await Promise.all(stored.map(async (key) => ((await rig.redis.client.type(key)) === "hash" ? JSON.stringify(await rig.redis.client.hgetall(key)) : (await rig.redis.client.type(key)) === "string" ? ((await rig.redis.client.get(key)) ?? "") : "")));
    assert.ok(!values.some((v) => v.includes(secret.split(".")[1]!)), "Redis holds only its hash");
    const audit = JSON.stringify((await rig.api("GET", "/audit")).body);
    assert.ok(!audit.includes(secret.split(".")[1]!), "the audit log does not hold it");
    assert.ok(!rig.logText().includes(secret.split(".")[1]!), "no log line holds it");
    assert.ok(rig.logText().includes('"path":"/admin/tokens"'), "while the action itself is logged");
  });

  it("revoking asks first (the token still works), then revokes: the API refuses it and its console session is signed out at its next request", async () => {
    const made = (await rig.api("POST", "/tokens", { name: "ops", scopes: ["incidents"] })).body as { id: string; token: string };
    const ops = await signedIn(made.token);
    assert.equal((await ops.get("/admin/notifications")).status, 200);

    const list = await alice.get("/admin/tokens");
    assert.ok(list.text.includes(`href="/admin/tokens/${made.id}/revoke" aria-label="Revoke token ops"`));
    const confirm = await alice.get(`/admin/tokens/${made.id}/revoke`);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /<h1 id="confirm-heading">Revoke a token\?<\/h1>/);
    assert.match(confirm.text, /<dd>ops<\/dd>/);
    assert.match(confirm.text, /refused from its next request\. It cannot be undone/);
    assert.match(confirm.text, /<button type="submit" class="ops-danger">Revoke token<\/button>/);
    assert.equal((await fetch(`${rig.base}/admin/api/incidents`, { headers: { authorization: `Bearer ${made.token}` } })).status, 200, "asking revokes nothing");
    assert.equal((await ops.get("/admin/notifications")).status, 200);

    const revoked = await alice.post(`/admin/tokens/${made.id}/revoke`, { _csrf: csrfOf(confirm.text) });
    assert.equal(revoked.status, 303, revoked.text);
    assert.equal(revoked.location, "/admin/tokens?done=revoked");
    assert.equal((await fetch(`${rig.base}/admin/api/incidents`, { headers: { authorization: `Bearer ${made.token}` } })).status, 401, "the API refuses it");
    const next = await ops.get("/admin/notifications");
    assert.equal(next.status, 303);
    assert.equal(next.location, "/admin/login?m=revoked", "its console session is signed out");
    assert.ok((await tokens()).find((t) => t.id === made.id)!.revoked_at, "listed as revoked");
    const page = await alice.get("/admin/tokens?done=revoked");
    assert.match(page.text, /Token revoked: it no longer works/);
    assert.match(page.text, /<h2 id="revoked-heading">Revoked tokens<\/h2>/);

    const own = await alice.get(`/admin/tokens/${(await tokens()).find((t) => t.name === "alice")!.id}/revoke`);
    assert.match(own.text, /It is the token you are signed in with: you will be signed out\./);
    const unknown = await alice.post("/admin/tokens/nosuchtoken0/revoke", { _csrf: csrfOf(confirm.text) });
    assert.equal(unknown.status, 404);
  });

  it("a token without the admin scope gets 403 on the tokens and audit pages, as on the API, and its forged POSTs change nothing", async () => {
    for (const scopes of [["read"], ["incidents", "playbooks", "fleet"]]) {
      const made = (await rig.api("POST", "/tokens", { name: `no-admin-${scopes[0]}`, scopes })).body as { token: string };
      const client = await signedIn(made.token);
      for (const pathname of ["/admin/tokens", "/admin/audit", "/admin/tokens/x/revoke"]) {
        const page = await client.get(pathname);
        assert.equal(page.status, 403, `${scopes}: ${pathname}`);
        assert.match(page.text, /lacks the &quot;admin&quot; scope/);
        assert.equal((await fetch(`${rig.base}/admin/api${pathname.replace("/admin", "")}`, { headers: { authorization: `Bearer ${made.token}` } })).status, 403, "as the API answers");
      }
      const before = (await tokens()).length;
      const csrf = csrfOf((await client.get("/admin/notifications")).text);
      const forged = await client.post("/admin/tokens", { _csrf: csrf, name: "escalated", scope: "admin" });
      assert.equal(forged.status, 403);
      const victim = (await tokens()).find((t) => t.name === "alice")!;
      assert.equal((await client.post(`/admin/tokens/${victim.id}/revoke`, { _csrf: csrf })).status, 403);
      assert.equal((await tokens()).length, before, "no token was made");
      assert.equal((await tokens()).find((t) => t.name === "alice")!.revoked_at, undefined, "none was revoked");
    }
  });

  it("the audit page lists the console's actions, newest first, each with the right actor and outcome", async () => {
    const made = (await rig.api("POST", "/tokens", { name: "bob", scopes: ["incidents"] })).body as { token: string };
    const bob = await signedIn(made.token);
    const { _csrf, key } = await bob.formOf("/admin/incidents/new");
    const composed = await bob.post("/admin/incidents", { _csrf, key, title: "Bob's incident", status: "investigating", message: "Looking.", "component.chat": "degraded_performance", notify: "on" });
    assert.equal(composed.status, 303, composed.text);
    const incidentPath = composed.location!.split("?")[0]!;
    const created = await createForm(alice, { name: "audit-me", scope: "read" });
    assert.equal(created.status, 201);
    const id = (await tokens()).find((t) => t.name === "audit-me")!.id;
    const confirm = await alice.get(`/admin/tokens/${id}/revoke`);
    assert.equal((await alice.post(`/admin/tokens/${id}/revoke`, { _csrf: csrfOf(confirm.text) })).status, 303);

    const page = await alice.get("/admin/audit");
    assert.equal(page.status, 200);
    const rows = auditRows(page.text);
    assert.deepEqual(rows.slice(0, 4), [
      ["alice", `POST /admin/tokens/${id}/revoke`, "done (303)"],
      ["alice", "POST /admin/tokens", "done (201)"],
      ["bob", "POST /admin/incidents", "done (303)"],
      ["bob", "POST /admin/login", "done (303)"],
    ]);
    assert.match(page.text, /<p class="help">console<\/p>/);
    const incident = (await rig.api("GET", incidentPath.replace("/admin", ""))).body.incident as { updates: { author: { name: string } }[] };
    assert.equal(incident.updates[0]!.author.name, "bob", "and the timeline credits the same name");
    const longer = await alice.get("/admin/audit?limit=500");
    assert.match(longer.text, /<strong aria-current="page">500<\/strong>/);
    for (const bad of ["0", "1001", "abc", SCRIPT]) {
      const answer = await alice.get(`/admin/audit?limit=${encodeURIComponent(bad)}`);
      assert.equal(answer.status, 400, bad);
      assert.match(answer.text, /limit: expected a whole number from 1 to 1000/);
      assert.ok(!answer.text.includes("<script>"));
    }
  });

  it("bad input on the new-token form: each problem named by its field, nothing made, nothing rendered unescaped", async () => {
    const before = (await tokens()).length;
    const cases: [Record<string, string | string[]>, string[]][] = [
      [{ name: "" }, ["Name: say who or what uses the token (alice, deploy-bot)"]],
      [{ scope: [] }, ["Scopes: tick at least one (read, incidents, playbooks, fleet, admin)"]],
      [{ name: MIB }, ["Name: 1 to 64 letters, digits, spaces or . _ @ -"]],
      [{ name: `bot ${SCRIPT}` }, ["Name: 1 to 64 letters, digits, spaces or . _ @ -"]],
      [{ scope: ["read", SCRIPT] }, ['Scopes: tick among read, incidents, playbooks, fleet, admin, not "<script>alert(1)</script>"']],
      [{ scope: MIB }, [`Scopes: tick among read, incidents, playbooks, fleet, admin, not "${"m".repeat(40)}…"`]],
      [{ name: ["a", "b"] }, ["Name: sent more than once; send it once"]],
      [{ other: "agent:eu-west" }, ["Other scope: agent:eu-west cannot be combined with admin API scopes: a token given to an agent or a job must be good for nothing else"]],
      [{ scope: [], other: SCRIPT }, ['Other scope: "<script>alert(1)</script>" is not a scope; there are read, incidents, playbooks, fleet, admin, agent:<location>, heartbeat:<probe>']],
      [{ scope: [], other: MIB }, ["Other scope: at most 80 characters, like agent:eu-west or heartbeat:backup"]],
    ];
    for (const [fields, issues] of cases) {
      const answer = await createForm(alice, fields);
      assert.equal(answer.status, 400, JSON.stringify(fields).slice(0, 80));
      assert.deepEqual(issuesOf(answer.text), issues);
      assert.ok(!answer.text.includes("<script>"), "no <script> tag on the page");
      assert.ok(!/<input id="new-token"/.test(answer.text), "no token shown");
    }
    const echoed = await createForm(alice, { name: `bot ${SCRIPT}`, scope: ["read", "fleet"] });
    assert.ok(echoed.text.includes('value="bot &lt;script&gt;alert(1)&lt;/script&gt;"'), "the name is shown again, escaped");
    assert.match(echoed.text, /<input id="token-scope-fleet" name="scope" type="checkbox" value="fleet" checked/);
    assert.doesNotMatch(echoed.text, /<input id="token-scope-admin" name="scope" type="checkbox" value="admin" checked/);
    const agent = await createForm(alice, { name: "edge-agent", scope: [], other: "agent:local" });
    assert.equal(agent.status, 201, "an agent token through Other scope");
    assert.equal((await tokens()).length, before + 1, "only the good form made a token");
  });
});
