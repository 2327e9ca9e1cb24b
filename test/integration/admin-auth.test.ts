import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import request from "supertest";
import { scopeFor, type WebApp } from "../../src/web/index.ts";
import { BIN } from "../helpers/service.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

const BOOTSTRAP = "admin-auth-bootstrap-token-0123456789";

describe("admin API tokens with scopes, and the audit log (real redis-server, real HTTP)", () => {
  let rig: WebRig;
  let app: WebApp;
  let connection: Redis;
  const as = (token: string) => ({
    get: (path: string) => request(app).get(`/admin/api${path}`).set("authorization", `Bearer ${token}`),
    post: (path: string, body: object = {}) => request(app).post(`/admin/api${path}`).set("authorization", `Bearer ${token}`).send(body),
    delete: (path: string) => request(app).delete(`/admin/api${path}`).set("authorization", `Bearer ${token}`),
  });
  const create = async (name: string, scopes: string[]): Promise<{ id: string; token: string }> => (await as(BOOTSTRAP).post("/tokens", { name, scopes }).expect(201)).body;

  before(async () => {
    rig = await startWebRig(`
page: { name: Auth, url: "https://status.acme.test" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`, { tokens: [BOOTSTRAP] });
    ({ app, connection } = rig);
  });
  after(async () => rig?.stop());

  it("maps every admin route to the scope it needs", () => {
    assert.equal(scopeFor("GET", "/admin/api/incidents?limit=5"), "read");
    assert.equal(scopeFor("POST", "/admin/api/incidents"), "incidents");
    assert.equal(scopeFor("POST", "/admin/api/maintenances/m1/cancel"), "incidents");
    assert.equal(scopeFor("POST", "/admin/api/notifications/dead/x/replay"), "incidents");
    assert.equal(scopeFor("POST", "/admin/api/playbooks/p/enable"), "playbooks");
    assert.equal(scopeFor("POST", "/admin/api/probes/p/run"), "fleet");
    assert.equal(scopeFor("DELETE", "/admin/api/subscribers/s1"), "admin");
    assert.equal(scopeFor("GET", "/admin/api/tokens"), "admin");
    assert.equal(scopeFor("GET", "/admin/api/audit"), "admin");
  });

  it("a token does what its scopes allow and gets 403 naming the missing scope otherwise", async () => {
    const reader = await create("dashboard", ["read"]);
    const oncall = await create("alice", ["incidents"]);
    assert.match(reader.token, /^pb_[a-z0-9]{12}\.[A-Za-z0-9_-]{43}$/);
    await as(reader.token).get("/incidents").expect(200);
    const refused = await as(reader.token).post("/incidents", { name: "x", body: "y", components: { chat: "major_outage" } }).expect(403);
    assert.equal(refused.body.message, 'the token "dashboard" lacks the "incidents" scope that POST /admin/api/incidents needs (it has read)');
    await as(reader.token).get("/tokens").expect(403);

    const opened = await as(oncall.token).post("/incidents", { name: "Chat delays", body: "Looking into it.", components: { chat: "degraded_performance" } }).expect(201);
    assert.equal(opened.body.incident.updates[0].author.name, "alice", "the timeline credits the token's name");
    await as(oncall.token).post("/probes/anything/run").expect(403);
    await as(oncall.token).get("/incidents").expect(200); // every scope reads
  });

  it("lists tokens without their secrets, keeps only hashes in Redis, and revokes at once", async () => {
    const bot = await create("deploy-bot", ["read", "playbooks"]);
    const listed = (await as(BOOTSTRAP).get("/tokens").expect(200)).body.tokens as Record<string, unknown>[];
    const mine = listed.find((t) => t.id === bot.id)!;
    assert.deepEqual(Object.keys(mine).sort(), ["created_at", "id", "name", "scopes"]);
    await as(bot.token).get("/incidents").expect(200);
    const after = (await as(BOOTSTRAP).get("/tokens").expect(200)).body.tokens.find((t: { id: string }) => t.id === bot.id);
    assert.ok(after.last_used_at, "last use is recorded");

    const secret = bot.token.split(".")[1]!;
    const dump = JSON.stringify(await Promise.all((await connection.keys("*")).filter((k) => k.includes("auth")).map(async (k) => [k, await connection.type(k) === "hash" ? await connection.hgetall(k) : null])));
    assert.ok(!dump.includes(secret), "the secret is nowhere in Redis");

    await as(BOOTSTRAP).delete(`/tokens/${bot.id}`).expect(200);
    await as(bot.token).get("/incidents").expect(401);
    assert.ok((await as(BOOTSTRAP).get("/tokens")).body.tokens.find((t: { id: string }) => t.id === bot.id).revoked_at);
    await as(BOOTSTRAP).delete("/tokens/nope").expect(404);
    await as(`pb_${bot.id}.${"A".repeat(43)}`).get("/incidents").expect(401, /valid bearer token/);
  });

  it("refuses bad token requests, naming the field", async () => {
    const unknown = await as(BOOTSTRAP).post("/tokens", { name: "x", scopes: ["read", "root"] }).expect(400);
    assert.match(JSON.stringify(unknown.body), /scopes: \\"root\\" is not a scope; there are read, incidents, playbooks, fleet, admin/);
    assert.match(JSON.stringify((await as(BOOTSTRAP).post("/tokens", { name: "", scopes: ["read"] }).expect(400)).body), /name: 1 to 64 letters/);
    assert.match(JSON.stringify((await as(BOOTSTRAP).post("/tokens", { name: "x", scopes: "read" }).expect(400)).body), /scopes: expected a list/);
    assert.match(JSON.stringify((await as(BOOTSTRAP).post("/tokens", { name: "x", scopes: [] }).expect(400)).body), /scopes: give at least one/);
  });

  it("audits every admin action: who, what, when, how it ended; never the token", async () => {
    const carol = await create("carol", ["incidents"]);
    await as(carol.token).post("/incidents", { name: "Audit me", body: "b", components: { chat: "major_outage" } }).expect(201);
    await as(carol.token).post("/incidents/does-not-exist/resolve", { body: "x" }).expect(404);
    const entries = (await as(BOOTSTRAP).get("/audit?limit=10").expect(200)).body.entries as { actor: string; token: string; method: string; path: string; status: number; at: string }[];
    const hers = entries.filter((e) => e.actor === "carol");
    assert.deepEqual(hers.map((e) => `${e.method} ${e.path} ${e.status}`), ["POST /admin/api/incidents/does-not-exist/resolve 404", "POST /admin/api/incidents 201"]);
    assert.ok(hers.every((e) => e.token === carol.id && Date.parse(e.at) > Date.now() - 60_000));
    assert.ok(entries.some((e) => e.actor === "admin" && e.token === "bootstrap" && e.path === "/admin/api/tokens"), "token creation by the bootstrap token is audited");
    assert.ok(!JSON.stringify(entries).includes(carol.token.split(".")[1]!));
  });

  it("writes the audit record before the action: when it cannot be written the action is refused with 503 and not done", async () => {
    const [key] = (await connection.keys("*:auth:audit")) as string[];
    assert.ok(key, "the audit stream exists");
    const kept = await connection.dumpBuffer(key);
    const before = (await as(BOOTSTRAP).get("/incidents").expect(200)).body.incidents.length;
    await connection.del(key);
    await connection.set(key, "not a stream");
    try {
      const res = await as(BOOTSTRAP).post("/incidents", { name: "Unaudited", body: "b", components: { chat: "major_outage" } }).expect(503);
      assert.equal(res.body.code, "audit_unavailable");
      assert.match(res.body.message, /POST \/admin\/api\/incidents was not done/);
      assert.equal((await as(BOOTSTRAP).get("/incidents").expect(200)).body.incidents.length, before, "no incident was opened");
    } finally {
      await connection.del(key);
      await connection.restore(key, 0, kept!);
    }
    await as(BOOTSTRAP).post("/incidents", { name: "Audited again", body: "b", components: { chat: "partial_outage" } }).expect(201);
    const [latest] = (await as(BOOTSTRAP).get("/audit?limit=1").expect(200)).body.entries;
    assert.deepEqual([latest.path, latest.status], ["/admin/api/incidents", 201]);
  });

  it("an incident write sent again with the same Idempotency-Key is done once", async () => {
    const keyed = (path: string, key: string, body: object) => as(BOOTSTRAP).post(path, body).set("idempotency-key", key);
    const first = await keyed("/incidents", "open-1", { name: "Keyed", body: "Opened.", components: {} }).expect(201);
    const again = await keyed("/incidents", "open-1", { name: "Keyed", body: "Opened.", components: {} }).expect(200);
    assert.equal(again.body.incident.id, first.body.incident.id, "the same incident");
    const id = first.body.incident.id as string;
    await keyed(`/incidents/${id}/updates`, "note-1", { body: "A note." }).expect(200);
    const twice = await keyed(`/incidents/${id}/updates`, "note-1", { body: "A note." }).expect(200);
    assert.deepEqual(twice.body.incident.updates.map((u: { body: string }) => u.body), ["Opened.", "A note."], "the note is on the timeline once");
    await keyed(`/incidents/${id}/updates`, "", { body: "x" }).expect(400);
    const long = await keyed(`/incidents/${id}/updates`, "k".repeat(201), { body: "x" }).expect(400);
    assert.match(long.body.message ?? JSON.stringify(long.body), /Idempotency-Key/);
  });

  it("`pulseboard tokens` creates, lists and revokes from the command line", async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "tokens", ...args], { env: { ...process.env, REDIS_URL: rig.redis.url, LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
        child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
        child.on("close", (code) => resolve({ code, out, err }));
      });
    const made = await cli("create", "--name", "cli-bot", "--scopes", "read,fleet");
    assert.equal(made.code, 0, made.err);
    const [, id] = /created ([a-z0-9]{12}) \(cli-bot: read, fleet\)/.exec(made.out) ?? [];
    assert.ok(id, made.out);
    assert.match(made.out, /pb_[a-z0-9]{12}\.[A-Za-z0-9_-]{43}\n$/);
    assert.match((await cli("list")).out, new RegExp(`${id}  cli-bot\\s+read,fleet`));
    assert.match((await cli("revoke", id)).out, new RegExp(`revoked ${id} \\(cli-bot\\)`));
    assert.match((await cli("list")).out, /REVOKED/);
    const bad = await cli("create", "--name", "x", "--scopes", "superuser");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /scopes: "superuser" is not a scope/);
    assert.equal((await cli("revoke", "nope")).code, 2);
  });
});

describe("rate limits: failed admin logins and the public page (real redis-server, real HTTP)", () => {
  let rig: WebRig;
  let app: WebApp;

  before(async () => {
    rig = await startWebRig(`
page: { name: Limits, url: "https://status.acme.test" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
web: { rate_limit: { per_second: 0.5, burst: 5 } }
admin: { failed_logins: { max: 3, per: 1m } }
`, { tokens: [BOOTSTRAP] });
    ({ app } = rig);
  });
  after(async () => rig?.stop());

  it("gives one address 5 public requests at once, then 429 with Retry-After; health and static files are not limited", async () => {
    const answers = [];
    for (let i = 0; i < 7; i++) answers.push((await request(app).get("/api/v2/status.json")).status);
    assert.deepEqual(answers, [200, 200, 200, 200, 200, 429, 429]);
    const limited = await request(app).get("/").expect(429);
    // A token every 2 s: the seven requests have 2 s to finish before one more is let through.
    assert.equal(limited.headers["retry-after"], "2");
    assert.equal(limited.body.code, "rate_limited");
    await request(app).get("/healthz").expect(200);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await request(app).get("/api/v2/status.json").expect(200);
  });

  it("refuses an address after 3 failed admin logins, even with a good token, until the window moves on", async () => {
    for (let i = 0; i < 3; i++) await request(app).get("/admin/api/incidents").set("authorization", `Bearer wrong-token-${i}-0123456789`).expect(401);
    const locked = await request(app).get("/admin/api/incidents").set("authorization", `Bearer ${BOOTSTRAP}`).expect(429);
    assert.match(locked.body.message, /^too many failed admin logins from this address; retry in \d+ s$/);
    assert.ok(Number(locked.headers["retry-after"]) > 0 && Number(locked.headers["retry-after"]) <= 60);
  });
});
