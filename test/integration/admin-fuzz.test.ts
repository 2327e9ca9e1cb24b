import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import type { StatusContext } from "../../src/status/index.ts";
import { QueuedConfirmations, SubscriberStore } from "../../src/subscriptions/index.ts";
import { AdminAuth, subscriptionsRouter, type WebApp } from "../../src/web/index.ts";
import { testLog } from "../helpers/config.ts";
import { fuzzSeed, randomJson, randomText, Rng, spoil } from "../helpers/fuzz.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

const TOKEN = "admin-fuzz-bootstrap-token-0123456789";

/** Valid bodies of the admin API's writes, to spoil. */
const VALID: Record<string, Record<string, unknown>> = {
  "/incidents": { name: "Chat delays", body: "Looking into it.", status: "investigating", components: { chat: "degraded_performance" } },
  "/incidents/ID/updates": { status: "identified", body: "Found it.", components: { chat: "partial_outage" } },
  "/incidents/ID/resolve": { body: "Fixed." },
  "/incidents/ID/postmortem": { body: "What happened." },
  "/maintenances": { name: "Upgrade", body: "Redis upgrade.", components: ["chat"], starts_at: "2031-01-01T10:00:00Z", ends_at: "2031-01-01T11:00:00Z" },
  "/tokens": { name: "bot", scopes: ["read"] },
};

describe("admin API under generated bad input (real redis-server, real HTTP)", () => {
  let rig: WebRig;
  let app: WebApp;
  let status: StatusContext;
  let subscribers: SubscriberStore;

  before(async () => {
    rig = await startWebRig(
      `
page: { name: Fuzz, url: "https://status.acme.test" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: cache, name: Cache }]
subscriptions:
  rate_limit: { requests: 100000, per: 1m }
admin: { failed_logins: { max: 100000, per: 1m } }
`,
      {
        tokens: [TOKEN],
        subscriptions: ({ connection, config }) => {
          subscribers = new SubscriberStore(connection, config.redis.prefix);
          const confirmations = new QueuedConfirmations({ config: () => config, connection });
          const router = subscriptionsRouter({ ctx: { store: subscribers, config: () => config, confirmations }, auth: AdminAuth.forRedis(connection, config.redis.prefix, [TOKEN]), log: testLog() });
          return { router, close: () => confirmations.close() };
        },
      },
    );
    ({ app, status } = rig);
  });
  after(async () => rig?.stop());

  it("answers 3,000 bad bodies, paths and queries with a 4xx naming the problem; creates exactly what it said it created", async () => {
    const seed = fuzzSeed();
    const rng = new Rng(seed);
    const { body: seeded } = await request(app).post("/admin/api/incidents").set("authorization", `Bearer ${TOKEN}`).send(VALID["/incidents"]!).expect(201);
    const ids = [seeded.incident.id as string, "nope", "../../x", "%2e%2e", "a".repeat(300)];
    const incidentsBefore = (await status.store.recentIncidents(500)).length;
    let created = 0;
    const statuses = new Map<number, number>();
    for (let i = 0; i < 3_000; i++) {
      const route = rng.pick(Object.keys(VALID));
      const path = `/admin/api${route.replace("ID", encodeURIComponent(rng.pick(ids)))}${rng.chance(0.1) ? `?limit=${encodeURIComponent(String(randomJson(rng, 0)))}` : ""}`;
      const shape = rng.int(4);
      let req = request(app).post(path).set("authorization", `Bearer ${TOKEN}`);
      if (shape === 3) req = req.set("content-type", rng.pick(["application/json", "text/plain", "application/x-www-form-urlencoded"])).send(randomText(rng));
      else req = req.set("content-type", "application/json").send(JSON.stringify(shape === 0 ? randomJson(rng, 3) : spoil(rng, VALID[route]!)) ?? "null");
      const res = await req;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const where = `seed ${seed}, round ${i}: POST ${path.slice(0, 120)} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
      assert.ok(res.status < 500, where);
      // 431: Node's HTTP parser refuses a request line or headers over 16 KiB before any handler runs.
      if (res.status >= 400 && res.status !== 431) {
        assert.equal(typeof res.body.code, "string", where);
        assert.ok(typeof res.body.message === "string" && res.body.message.length > 0 && res.body.message.length < 3_000, where);
      }
      if (res.status === 201 && route === "/incidents") created++;
    }
    const incidentsAfter = (await status.store.recentIncidents(500)).length;
    assert.equal(incidentsAfter - incidentsBefore, created, `exactly the incidents answered 201 were created (seed ${seed})`);
    assert.ok((statuses.get(400) ?? 0) > 1_000, `most are refused as invalid: ${JSON.stringify([...statuses])} (seed ${seed})`);
    // Still whole: the seeded incident reads back, and a valid request still works.
    const back = await request(app).get(`/admin/api/incidents/${seeded.incident.id}`).set("authorization", `Bearer ${TOKEN}`).expect(200);
    assert.ok(Array.isArray(back.body.incident.updates) && back.body.incident.updates.every((u: { body: unknown }) => typeof u.body === "string"));
    await request(app).get("/api/v2/summary.json").expect(200);
  });

  it("answers 1,500 bad subscription requests (forms and JSON) and links with a 4xx, and stores no half-made subscriber", async () => {
    const seed = fuzzSeed();
    const rng = new Rng(seed);
    const valid = { type: "webhook", endpoint: "https://hooks.example.com/status", components: ["chat"] };
    let accepted = 0;
    let refused = 0;
    const stored = async () => (await subscribers.subscribers()).map((x) => `${x.id}:${x.confirmed_at ?? ""}`).sort().join(",");
    for (let i = 0; i < 1_500; i++) {
      const kind = rng.int(4);
      const before = await stored();
      let res;
      if (kind === 0) res = await request(app).post("/subscriptions").set("content-type", "application/json").send(JSON.stringify(spoil(rng, valid)));
      else if (kind === 1) res = await request(app).post("/subscriptions").set("content-type", "application/x-www-form-urlencoded").send(randomText(rng));
      else if (kind === 2) res = await request(app).get(`/subscriptions/confirm?token=${encodeURIComponent(String(randomJson(rng, 0)).slice(0, 2_000))}`);
      else res = await request(app).post("/subscriptions/unsubscribe").set("content-type", "application/json").send(JSON.stringify({ token: randomJson(rng, 1) }));
      const where = `seed ${seed}, round ${i} (kind ${kind}) → ${res.status} ${res.text.slice(0, 300)}`;
      assert.ok(res.status < 500, where);
      if (res.status === 202) accepted++;
      if (res.status >= 400) {
        refused++;
        assert.equal(await stored(), before, `${where}: a refused request created, confirmed or removed nothing`);
      }
    }
    for (const subscriber of await subscribers.subscribers()) {
      assert.ok(subscriber.type === "webhook" || subscriber.type === "email", `seed ${seed}: a stored subscriber is whole: ${JSON.stringify(subscriber).slice(0, 300)}`);
      assert.ok(Array.isArray(subscriber.components));
    }
    assert.ok(refused > 1_000, `most are refused: ${refused} refused, ${accepted} accepted (seed ${seed})`);
  });

  it("refuses a 1 MiB body on every route that takes one with 413, naming the limit", async () => {
    const big = JSON.stringify({ name: "x", body: "y".repeat(1 << 20) });
    const routes = ["/admin/api/incidents", "/admin/api/incidents/x/updates", "/admin/api/maintenances", "/admin/api/tokens", "/admin/api/notifications/dead/x/replay", "/subscriptions", "/subscriptions/unsubscribe"];
    for (const route of routes) {
      const res = await request(app).post(route).set("authorization", `Bearer ${TOKEN}`).set("content-type", "application/json").send(big);
      assert.equal(res.status, 413, `${route}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.match(res.body.message, /too large|limit|larger than/i, route);
    }
  });

  it("answers bad bearer headers with 401 and nothing else", async () => {
    const seed = fuzzSeed();
    const rng = new Rng(seed);
    for (let i = 0; i < 500; i++) {
      const header = rng.pick(["Bearer ", "Basic ", "", "bearer", "Bearer  "]) + String(randomJson(rng, 0)).slice(0, 500).replace(/[\r\n\u0000-\u001f\u007f-\uffff]/g, "x");
      const res = await request(app).post("/admin/api/incidents").set("authorization", header).send(VALID["/incidents"]!);
      assert.equal(res.status, 401, `seed ${seed}, round ${i}: ${JSON.stringify(header).slice(0, 100)}`);
      assert.deepEqual(Object.keys(res.body).sort(), ["code", "message"]);
    }
  });
});
