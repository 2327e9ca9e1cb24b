import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import type { Config } from "../../src/config/index.ts";
import { NotificationControl, ProbeControl } from "../../src/pipeline/index.ts";
import { readSummary, setComponentStatus, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { createWebApp, SnapshotService, type WebApp } from "../../src/web/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";

const TOKEN = "test-admin-token-0123456789";
const COMPONENT_STATUSES = ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"];
const INDICATORS = ["none", "minor", "major", "critical", "maintenance"];
const COMPONENT_FIELDS = ["created_at", "description", "group", "group_id", "id", "name", "only_show_if_degraded", "page_id", "position", "showcase", "start_date", "status", "updated_at"];

describe("web role: status page, Statuspage API, admin API (real redis-server, real HTTP)", () => {
  let redis: TestRedis;
  let connection: Redis;
  let config: Config;
  let status: StatusContext;
  let snapshot: SnapshotService;
  let app: WebApp;
  let probes: ProbeControl;

  before(async () => {
    redis = await startRedis();
    config = await configFrom(`
page: { name: "Acme <Live>", url: "https://status.acme.test" }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime, description: "WebSocket connections" }
  - { id: chat, name: Chat, group: Realtime }
  - { id: cache, name: Cache }
`, { REDIS_URL: redis.url });
    connection = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
    connection.on("error", () => {});
    status = { store: new StatusStore(connection, uniquePrefix()), components: config.components };
    snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log: testLog() });
    await snapshot.start();
    probes = new ProbeControl({ config: () => config, connection, store: status.store, log: testLog() });
    app = createWebApp({ config, status, snapshot, adminTokens: [TOKEN], ready: () => status.store.ping(), probes, notifications: new NotificationControl({ config: () => config, connection, store: status.store }), log: testLog() });
  });
  after(async () => {
    await probes.close();
    await snapshot.stop();
    connection.disconnect();
    await redis.stop();
  });

  it("/api/v2/components.json speaks Statuspage: fields, enums, groups before members", async () => {
    await setComponentStatus(status, { id: "chat", status: "partial_outage", reason: "echo failed" });
    await snapshot.refresh();
    const res = await request(app).get("/api/v2/components.json").expect(200).expect("content-type", /json/);
    assert.deepEqual(Object.keys(res.body.page).sort(), ["id", "name", "time_zone", "updated_at", "url"]);
    const names = res.body.components.map((c: { name: string }) => c.name);
    assert.deepEqual(names, ["Realtime", "Realtime gateway", "Chat", "Cache"]);
    for (const component of res.body.components) {
      assert.ok(COMPONENT_STATUSES.includes(component.status), component.status);
      for (const field of COMPONENT_FIELDS) assert.ok(field in component, `${component.name} lacks ${field}`);
    }
    const [group, gateway, chat] = res.body.components;
    assert.equal(group.group, true);
    assert.deepEqual(group.components, ["realtime-gateway", "chat"]);
    assert.equal(group.status, "partial_outage");
    assert.equal(gateway.group_id, group.id);
    assert.equal(chat.status, "partial_outage");
    assert.equal(res.body.components.at(-1).group_id, null);
  });

  it("/api/v2/summary.json and status.json carry the indicator and unresolved incidents", async () => {
    const created = await request(app)
      .post("/admin/api/incidents")
      .set("authorization", `Bearer ${TOKEN}`)
      .send({ name: "Chat is slow", body: "We are looking into <b>it</b>.", components: { chat: "degraded_performance" } })
      .expect(201);
    await snapshot.refresh();
    const summary = await request(app).get("/api/v2/summary.json").expect(200);
    assert.deepEqual(Object.keys(summary.body).sort(), ["components", "incidents", "page", "scheduled_maintenances", "status"]);
    assert.ok(INDICATORS.includes(summary.body.status.indicator));
    assert.equal(summary.body.status.indicator, "major");
    assert.equal(summary.body.status.description, "Partial System Outage");
    const incident = summary.body.incidents.find((i: { id: string }) => i.id === created.body.incident.id);
    assert.ok(incident, "the new incident is in summary.json");
    for (const field of ["id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact", "shortlink", "started_at", "page_id", "incident_updates", "components"]) {
      assert.ok(field in incident, `incident lacks ${field}`);
    }
    assert.equal(incident.shortlink, `https://status.acme.test/incidents/${incident.id}`);
    const [update] = incident.incident_updates;
    assert.equal(update.status, "investigating");
    assert.deepEqual(update.affected_components, [{ code: "chat", name: "Realtime - Chat", old_status: "partial_outage", new_status: "degraded_performance" }]);
    const statusJson = await request(app).get("/api/v2/status.json").expect(200);
    assert.deepEqual(statusJson.body.status, summary.body.status);
  });

  it("/ renders every component with a text label, and escapes what people typed", async () => {
    const res = await request(app).get("/").expect(200).expect("content-type", /html/);
    for (const name of ["Realtime gateway", "Chat", "Cache"]) assert.ok(res.text.includes(name), name);
    assert.match(res.text, /Partial outage/);
    assert.match(res.text, /Partial System Outage/);
    assert.ok(res.text.includes("Acme &lt;Live&gt;"));
    assert.ok(res.text.includes("We are looking into &lt;b&gt;it&lt;/b&gt;."));
    assert.ok(!res.text.includes("<b>it</b>"));
  });

  it("admin API: 401 and nothing else without a valid bearer token", async () => {
    for (const header of [undefined, "Bearer wrong-token-wrong-token", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, "Bearer"]) {
      const req = request(app).get("/admin/api/incidents");
      const res = await (header ? req.set("authorization", header) : req).expect(401);
      assert.deepEqual(Object.keys(res.body).sort(), ["code", "message"]);
      assert.equal(res.headers["www-authenticate"], 'Bearer realm="pulseboard-admin"');
    }
    await request(app).post("/admin/api/incidents").send({ name: "x", body: "y" }).expect(401);
    await request(app).get("/admin/api/incidents").set("authorization", `Bearer ${TOKEN}`).expect(200);
  });

  it("admin API: bad input gets a 4xx that names the problem", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const missing = await request(app).post("/admin/api/incidents").set(auth).send({ body: "no name" }).expect(400);
    assert.equal(missing.body.code, "validation_failed");
    assert.match(missing.body.message, /name/);
    assert.ok(missing.body.requestId);
    const ghost = await request(app).post("/admin/api/incidents").set(auth).send({ name: "x", body: "y", components: { ghost: "major_outage" } }).expect(400);
    assert.match(ghost.body.message, /components\.ghost: no component has this id/);
    const badStatus = await request(app).post("/admin/api/incidents").set(auth).send({ name: "x", body: "y", components: { chat: "on_fire" } }).expect(400);
    assert.match(badStatus.body.message, /components\.chat/);
    const badJson = await request(app).post("/admin/api/incidents").set(auth).set("content-type", "application/json").send("{oops").expect(400);
    assert.equal(badJson.body.code, "bad_json");
    await request(app).post("/admin/api/incidents").set(auth).send({ name: "x", body: "y".repeat(70_000) }).expect(413);
    await request(app).post("/admin/api/incidents/nope/updates").set(auth).send({ body: "x" }).expect(404);
    await request(app).get("/admin/api/incidents?limit=0").set(auth).expect(400);
  });

  it("admin API: updates and resolves an incident; the page follows", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const { body } = await request(app).post("/admin/api/incidents").set(auth).send({ name: "Cache restart", body: "Restarting.", components: { cache: "major_outage" } }).expect(201);
    const id = body.incident.id;
    await request(app).post(`/admin/api/incidents/${id}/updates`).set(auth).send({ status: "monitoring", body: "Back, watching." }).expect(200);
    const resolved = await request(app).post(`/admin/api/incidents/${id}/resolve`).set(auth).send({}).expect(200);
    assert.equal(resolved.body.incident.status, "resolved");
    assert.deepEqual(resolved.body.incident.updates.map((u: { status: string }) => u.status), ["investigating", "monitoring", "resolved"]);
    await snapshot.refresh();
    const summary = await request(app).get("/api/v2/summary.json").expect(200);
    assert.ok(!summary.body.incidents.some((i: { id: string }) => i.id === id));
    assert.equal(summary.body.components.find((c: { id: string }) => c.id === "cache").status, "operational");
  });

  it("does not turn a herd from one address away from the cached public routes by default (a company behind one NAT)", async () => {
    const paths = ["/", "/api/v2/summary.json", "/api/v2/status.json", "/history.rss", "/history.atom", "/badge.svg"];
    const statuses = new Map<number, number>();
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => request(app).get(paths[i % paths.length]!)));
      for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
    assert.deepEqual([...statuses], [[200, 600]], "600 requests from one address in ten bursts of 60");
  });

  it("healthz always answers; readyz reflects the control-plane Redis", async () => {
    await request(app).get("/healthz").expect(200, { status: "ok" });
    await request(app).get("/readyz").expect(200);
    await request(app).get("/nope").expect(404);
  });

  it("with its Redis gone, the page and API keep answering 200 from the last snapshot, marked stale", async () => {
    await redis.stop();
    await snapshot.refresh();
    const page = await request(app).get("/").expect(200);
    assert.match(page.text, /Data may be stale since/);
    const summary = await request(app).get("/api/v2/summary.json").expect(200);
    assert.ok(summary.headers["x-pulseboard-stale-since"]);
    assert.equal(summary.body.components.length, 4);
    const ready = await request(app).get("/readyz").expect(503);
    assert.match(ready.body.reason, /^control-plane Redis unreachable: (connection refused|no answer within 1 s|not connected|no answer)$/);
    assert.doesNotMatch(JSON.stringify(ready.body), /127\.0\.0\.1|:\d{4,5}/, "no address of the control plane on a public route");
    await request(app).get("/healthz").expect(200);
  });
});
