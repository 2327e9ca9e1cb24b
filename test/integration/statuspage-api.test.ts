import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import type { Config } from "../../src/config/index.ts";
import { NotificationControl, ProbeControl } from "../../src/pipeline/index.ts";
import {
  advanceMaintenances,
  appendUpdate,
  openIncident,
  resolveIncident,
  scheduleMaintenance,
  setComponentStatus,
  StatusStore,
  type StatusContext,
} from "../../src/status/index.ts";
import { createWebApp, SnapshotService, type WebApp } from "../../src/web/index.ts";
import { CACHE_CONTROL } from "../../src/web/rendered.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { child, children, parseXml } from "../helpers/xml.ts";

/**
 * Statuspage's public API v2 documents, field for field and in order, as
 * Statuspage-hosted pages serve them (GitHub's, Discord's, Payfast's).
 */
const PAGE_KEYS = ["id", "name", "url", "time_zone", "updated_at"];
const COMPONENT_KEYS = ["id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded"];
const INCIDENT_KEYS = ["id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact", "shortlink", "started_at", "page_id", "incident_updates", "components", "reminder_intervals"];
const MAINTENANCE_KEYS = [...INCIDENT_KEYS, "scheduled_for", "scheduled_until"];
const UPDATE_KEYS = ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components", "deliver_notifications", "custom_tweet", "tweet_id"];
const AFFECTED_KEYS = ["code", "name", "old_status", "new_status"];

const COMPONENT_STATUSES = ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"];
const INDICATORS = ["none", "minor", "major", "critical", "maintenance"];
const INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved", "postmortem"];
const IMPACTS = ["none", "minor", "major", "critical"];
const MAINTENANCE_STATUSES = ["scheduled", "in_progress", "verifying", "completed"];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

type Json = Record<string, any>;

const PERSON = { kind: "person", name: "On-call" } as const;
const BOT = { kind: "automatic", name: "Pulseboard" } as const;

/** Checks a component document and returns it. */
function checkComponent(component: Json): Json {
  assert.deepEqual(Object.keys(component), component.group ? [...COMPONENT_KEYS, "components"] : COMPONENT_KEYS, `component ${component.name}`);
  assert.ok(COMPONENT_STATUSES.includes(component.status), component.status);
  assert.match(component.created_at, ISO);
  assert.match(component.updated_at, ISO);
  assert.ok(Number.isInteger(component.position) && component.position >= 1);
  return component;
}

/** Checks an incident or scheduled maintenance document, its updates and components. */
function checkIncident(incident: Json, kind: "incident" | "maintenance"): void {
  assert.deepEqual(Object.keys(incident), kind === "incident" ? INCIDENT_KEYS : MAINTENANCE_KEYS, `${kind} ${incident.name}`);
  if (kind === "incident") {
    assert.ok(INCIDENT_STATUSES.includes(incident.status), incident.status);
    assert.ok(IMPACTS.includes(incident.impact), incident.impact);
  } else {
    assert.ok(MAINTENANCE_STATUSES.includes(incident.status), incident.status);
    assert.equal(incident.impact, "maintenance");
    assert.match(incident.scheduled_for, ISO);
    assert.match(incident.scheduled_until, ISO);
  }
  assert.equal(incident.reminder_intervals, null);
  assert.equal(incident.shortlink, `https://status.acme.test/incidents/${incident.id}`);
  for (const field of ["created_at", "updated_at", "started_at"]) assert.match(incident[field], ISO);
  for (const field of ["monitoring_at", "resolved_at"]) assert.ok(incident[field] === null || ISO.test(incident[field]), `${field}: ${incident[field]}`);
  const times = incident.incident_updates.map((u: Json) => u.created_at);
  assert.deepEqual(times, [...times].sort().reverse(), "updates newest first");
  for (const update of incident.incident_updates) {
    assert.deepEqual(Object.keys(update), UPDATE_KEYS);
    assert.equal(update.incident_id, incident.id);
    assert.ok((kind === "incident" ? INCIDENT_STATUSES : MAINTENANCE_STATUSES).includes(update.status), update.status);
    assert.ok(update.affected_components === null || update.affected_components.length > 0, "affected_components is null, never []");
    for (const affected of update.affected_components ?? []) {
      assert.deepEqual(Object.keys(affected), AFFECTED_KEYS);
      assert.ok(COMPONENT_STATUSES.includes(affected.old_status) && COMPONENT_STATUSES.includes(affected.new_status));
    }
  }
  for (const component of incident.components) checkComponent(component);
}

describe("Statuspage API v2, feeds and badges over HTTP (real redis-server)", () => {
  let redis: TestRedis;
  let connection: Redis;
  let config: Config;
  let status: StatusContext;
  let snapshot: SnapshotService;
  let probes: ProbeControl;
  let app: WebApp;
  let clock = Date.parse("2026-03-01T10:00:00.000Z");
  const tick = (minutes: number) => (clock += minutes * 60_000);
  const ids = { resolved: "", open: "", upcoming: "", active: "", done: "" };

  before(async () => {
    redis = await startRedis();
    config = await configFrom(`
page: { name: "Acme <Live>", url: "https://status.acme.test/", time_zone: "Europe/Berlin" }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime, description: "WebSocket connections" }
  - { id: chat, name: Chat, group: Realtime }
  - { id: cache, name: Cache }
  - { id: api, name: API }
`, { REDIS_URL: redis.url });
    connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(connection, uniquePrefix("sp")), components: config.components, now: () => new Date(clock) };
    snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log: testLog() });
    await snapshot.start();
    probes = new ProbeControl({ config: () => config, connection, store: status.store, log: testLog() });
    const notifications = new NotificationControl({ config: () => config, connection, store: status.store });
    app = createWebApp({ config, status, snapshot, adminTokens: ["t".repeat(32)], ready: () => status.store.ping(), probes, notifications, log: testLog() });

    // A resolved incident whose updates add a component, keep it, and resolve both.
    await setComponentStatus(status, { id: "chat", status: "partial_outage", reason: "echo failed" });
    tick(1);
    const opened = await openIncident(status, { name: "Chat is slow", body: "Looking into it.", components: { chat: "degraded_performance" }, author: PERSON });
    ids.resolved = opened.incident.id;
    tick(5);
    await appendUpdate(status, { id: ids.resolved, status: "identified", body: "The cache is down too.", components: { cache: "major_outage" }, author: PERSON });
    tick(5);
    await appendUpdate(status, { id: ids.resolved, status: "monitoring", body: "Fixed; watching.", author: PERSON });
    tick(5);
    await resolveIncident(status, { id: ids.resolved, author: PERSON });
    await setComponentStatus(status, { id: "chat", status: "operational" });
    // An open incident without components.
    tick(10);
    ids.open = (await openIncident(status, { name: "Elevated latency", body: "Some requests are slow.", impact: "minor", author: PERSON })).incident.id;
    // Maintenance: one upcoming, one under way, one over.
    const at = (minutes: number) => new Date(clock + minutes * 60_000).toISOString();
    const window = { body: "Planned work.", author: BOT };
    ids.done = (await scheduleMaintenance(status, { ...window, name: "Old upgrade", components: ["cache"], scheduled_for: at(-120), scheduled_until: at(-60) })).maintenance.id;
    ids.active = (await scheduleMaintenance(status, { ...window, name: "Gateway upgrade", components: ["realtime-gateway"], scheduled_for: at(-1), scheduled_until: at(60) })).maintenance.id;
    ids.upcoming = (await scheduleMaintenance(status, { ...window, name: "API upgrade", components: ["api"], scheduled_for: at(24 * 60), scheduled_until: at(25 * 60) })).maintenance.id;
    tick(1);
    await advanceMaintenances(status, clock);
    await snapshot.refresh();
  });

  after(async () => {
    await probes.close();
    await snapshot.stop();
    connection.disconnect();
    await redis.stop();
  });

  it("summary.json: page, components, unresolved incidents, upcoming and active maintenance, status — keys in Statuspage's order", async () => {
    const { body } = await request(app).get("/api/v2/summary.json").expect(200).expect("content-type", "application/json; charset=utf-8");
    assert.deepEqual(Object.keys(body), ["page", "components", "incidents", "scheduled_maintenances", "status"]);
    assert.deepEqual(Object.keys(body.page), PAGE_KEYS);
    assert.deepEqual(body.page.name, "Acme <Live>");
    assert.equal(body.page.url, "https://status.acme.test");
    assert.equal(body.page.time_zone, "Europe/Berlin");
    assert.deepEqual(body.incidents.map((i: Json) => i.id), [ids.open]);
    for (const incident of body.incidents) checkIncident(incident, "incident");
    assert.deepEqual(body.scheduled_maintenances.map((m: Json) => [m.name, m.status]), [["Gateway upgrade", "in_progress"], ["API upgrade", "scheduled"]]);
    for (const maintenance of body.scheduled_maintenances) checkIncident(maintenance, "maintenance");
    assert.deepEqual(Object.keys(body.status), ["indicator", "description"]);
    assert.ok(INDICATORS.includes(body.status.indicator));
    assert.equal(body.status.indicator, "minor");
  });

  it("status.json and components.json: groups before members, positions counted per level", async () => {
    const statusJson = (await request(app).get("/api/v2/status.json").expect(200)).body;
    assert.deepEqual(Object.keys(statusJson), ["page", "status"]);
    assert.deepEqual(statusJson.status, { indicator: "minor", description: "Minor Service Outage" });
    const { body } = await request(app).get("/api/v2/components.json").expect(200);
    assert.deepEqual(Object.keys(body), ["page", "components"]);
    const components = body.components.map(checkComponent);
    assert.deepEqual(components.map((c: Json) => [c.name, c.position, c.group]), [
      ["Realtime", 1, true],
      ["Realtime gateway", 1, false],
      ["Chat", 2, false],
      ["Cache", 2, false],
      ["API", 3, false],
    ]);
    const [group, gateway] = components;
    assert.deepEqual(group.components, ["realtime-gateway", "chat"]);
    assert.equal(gateway.group_id, group.id);
    assert.equal(gateway.status, "under_maintenance");
    assert.equal(group.status, "under_maintenance");
    assert.equal(gateway.description, "WebSocket connections");
    assert.equal(components[3].description, null);
  });

  it("incidents.json: every incident, newest first; updates newest first with every component so far, before and after", async () => {
    const { body } = await request(app).get("/api/v2/incidents.json").expect(200);
    assert.deepEqual(Object.keys(body), ["page", "incidents"]);
    assert.deepEqual(body.incidents.map((i: Json) => i.id), [ids.open, ids.resolved]);
    for (const incident of body.incidents) checkIncident(incident, "incident");
    const [open, resolved] = body.incidents;
    assert.equal(open.incident_updates[0].affected_components, null);
    assert.deepEqual(open.components, []);
    assert.equal(resolved.status, "resolved");
    assert.equal(resolved.monitoring_at, "2026-03-01T10:11:00.000Z");
    assert.equal(resolved.resolved_at, "2026-03-01T10:16:00.000Z");
    const timeline = resolved.incident_updates.map((u: Json) => [u.status, u.affected_components.map((a: Json) => `${a.name}: ${a.old_status} → ${a.new_status}`)]);
    assert.deepEqual(timeline, [
      ["resolved", ["Realtime - Chat: degraded_performance → operational", "Cache: major_outage → operational"]],
      ["monitoring", ["Realtime - Chat: degraded_performance → degraded_performance", "Cache: major_outage → major_outage"]],
      ["identified", ["Realtime - Chat: degraded_performance → degraded_performance", "Cache: operational → major_outage"]],
      ["investigating", ["Realtime - Chat: partial_outage → degraded_performance"]],
    ]);
    assert.deepEqual(resolved.incident_updates[0].affected_components.map((a: Json) => a.code), ["chat", "cache"]);
    assert.deepEqual(resolved.components.map((c: Json) => [c.id, c.status]), [["chat", "operational"], ["cache", "operational"]]);
  });

  it("incidents/unresolved.json: only investigating, identified or monitoring", async () => {
    const { body } = await request(app).get("/api/v2/incidents/unresolved.json").expect(200);
    assert.deepEqual(Object.keys(body), ["page", "incidents"]);
    assert.deepEqual(body.incidents.map((i: Json) => [i.name, i.status]), [["Elevated latency", "investigating"]]);
    for (const incident of body.incidents) checkIncident(incident, "incident");
  });

  it("scheduled-maintenances.json, upcoming.json and active.json: Statuspage's maintenance shape, filtered by status", async () => {
    const all = (await request(app).get("/api/v2/scheduled-maintenances.json").expect(200)).body;
    assert.deepEqual(Object.keys(all), ["page", "scheduled_maintenances"]);
    assert.deepEqual(all.scheduled_maintenances.map((m: Json) => [m.name, m.status]), [
      ["API upgrade", "scheduled"],
      ["Gateway upgrade", "in_progress"],
      ["Old upgrade", "completed"],
    ]);
    for (const maintenance of all.scheduled_maintenances) checkIncident(maintenance, "maintenance");
    const [upcoming, active, done] = all.scheduled_maintenances;
    assert.equal(active.started_at, active.created_at, "a maintenance's started_at is when it was posted");
    assert.deepEqual(
      active.incident_updates.map((u: Json) => [u.status, u.affected_components.map((a: Json) => `${a.name}: ${a.old_status} → ${a.new_status}`)]),
      [
        ["in_progress", ["Realtime - Realtime gateway: operational → under_maintenance"]],
        ["scheduled", ["Realtime - Realtime gateway: operational → operational"]],
      ],
    );
    assert.deepEqual(active.components.map((c: Json) => [c.id, c.status]), [["realtime-gateway", "under_maintenance"]]);
    assert.equal(done.resolved_at, "2026-03-01T10:27:00.000Z");
    assert.equal(upcoming.resolved_at, null);

    const soon = (await request(app).get("/api/v2/scheduled-maintenances/upcoming.json").expect(200)).body;
    assert.deepEqual(Object.keys(soon), ["page", "scheduled_maintenances"]);
    assert.deepEqual(soon.scheduled_maintenances.map((m: Json) => m.id), [ids.upcoming]);
    const now = (await request(app).get("/api/v2/scheduled-maintenances/active.json").expect(200)).body;
    assert.deepEqual(now.scheduled_maintenances.map((m: Json) => m.id), [ids.active]);
  });

  it("every endpoint: CORS, cache-control, ETag with If-None-Match → 304, gzip when asked", async () => {
    const paths = ["summary.json", "status.json", "components.json", "incidents.json", "incidents/unresolved.json", "scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json"];
    for (const path of paths.map((p) => `/api/v2/${p}`)) {
      const first = await request(app).get(path).expect(200);
      assert.equal(first.headers["access-control-allow-origin"], "*", path);
      assert.equal(first.headers["cache-control"], CACHE_CONTROL.api, path);
      const etag = String(first.headers.etag);
      assert.match(etag, /^"[\w-]+"$/, path);
      const cached = await request(app).get(path).set("if-none-match", etag).expect(304);
      assert.equal(cached.text, "", path);
      await request(app).get(path).set("if-none-match", '"something-else"').expect(200);
    }
    const plain = await request(app).get("/api/v2/summary.json").set("accept-encoding", "identity").expect(200);
    assert.equal(plain.headers["content-encoding"], undefined);
    const zipped = await request(app).get("/api/v2/summary.json").set("accept-encoding", "gzip, deflate").expect(200);
    assert.equal(zipped.headers["content-encoding"], "gzip");
    assert.equal(zipped.headers.vary, "accept-encoding");
    assert.ok(Number(zipped.headers["content-length"]) < Buffer.byteLength(plain.text), "gzip is smaller");
    assert.deepEqual(zipped.body, plain.body);
  });

  it("history.rss and history.atom: feed content types, one entry per incident, CORS", async () => {
    const rss = await request(app).get("/history.rss").buffer(true).expect(200);
    assert.equal(rss.headers["content-type"], "application/rss+xml; charset=utf-8");
    assert.equal(rss.headers["access-control-allow-origin"], "*");
    assert.equal(rss.headers["cache-control"], CACHE_CONTROL.feed);
    const channel = child(parseXml(rss.text), "channel");
    assert.equal(child(channel, "title").text, "Acme <Live> - Incident history");
    assert.deepEqual(children(channel, "item").map((i) => child(i, "title").text), ["Elevated latency", "Chat is slow"]);
    assert.equal(child(children(channel, "item")[1]!, "guid").text, `https://status.acme.test/incidents/${ids.resolved}`);
    await request(app).get("/history.rss").set("if-none-match", String(rss.headers.etag)).expect(304);

    const atom = await request(app).get("/history.atom").buffer(true).expect(200);
    assert.equal(atom.headers["content-type"], "application/atom+xml; charset=utf-8");
    assert.equal(atom.headers["access-control-allow-origin"], "*");
    const feed = parseXml(atom.text);
    assert.deepEqual(children(feed, "entry").map((e) => child(e, "id").text), [ids.open, ids.resolved].map((id) => `https://status.acme.test/incidents/${id}`));
  });

  it("badge.svg and badge/<component>.svg: SVG with the status in words; unknown component → 404", async () => {
    const overall = await request(app).get("/badge.svg").expect(200);
    assert.equal(overall.headers["content-type"], "image/svg+xml; charset=utf-8");
    assert.equal(overall.headers["access-control-allow-origin"], "*");
    assert.equal(overall.headers["cache-control"], CACHE_CONTROL.badge);
    assert.equal(parseXml(svgText(overall.body)).attributes["aria-label"], "status: minor outage");
    await request(app).get("/badge.svg").set("if-none-match", String(overall.headers.etag)).expect(304);

    const gateway = await request(app).get("/badge/realtime-gateway.svg").expect(200);
    const svg = parseXml(svgText(gateway.body));
    assert.equal(svg.attributes.role, "img");
    assert.equal(child(svg, "title").text, "Realtime gateway: under maintenance");
    const chat = parseXml(svgText((await request(app).get("/badge/chat.svg").expect(200)).body));
    assert.equal(chat.attributes["aria-label"], "Chat: operational");
    await request(app).get("/badge/ghost.svg").expect(404);
    await request(app).get("/badge/Not%20an%20id.svg").expect(404);
  });
});

/** Supertest hands image/* bodies over as bytes. */
function svgText(body: unknown): string {
  assert.ok(Buffer.isBuffer(body), "an SVG body arrives as bytes");
  return body.toString("utf8");
}
