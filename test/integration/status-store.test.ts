import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ComponentConfig } from "../../src/config/index.ts";
import { NotFoundError, ValidationError } from "../../src/core/index.ts";
import {
  appendUpdate,
  openIncident,
  readSummary,
  resolveIncident,
  setComponentStatus,
  StatusStore,
  type Author,
  type StatusContext,
} from "../../src/status/index.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";

const components: ComponentConfig[] = [
  { id: "gateway", name: "Realtime gateway", only_show_if_degraded: false, showcase: true },
  { id: "chat", name: "Chat", only_show_if_degraded: false, showcase: true },
];
const person: Author = { kind: "person", name: "ops" };

describe("status store and verbs (real redis-server)", () => {
  let redis: TestRedis;
  const context = (): StatusContext => ({ store: new StatusStore(redis.client, uniquePrefix()), components });

  before(async () => (redis = await startRedis()));
  after(async () => redis.stop());

  it("opens an incident with its first timeline entry and lists it as unresolved", async () => {
    const ctx = context();
    const { incident, created } = await openIncident(ctx, {
      name: "Chat delays",
      body: "Messages take up to a minute.",
      components: { chat: "degraded_performance" },
      author: person,
    });
    assert.equal(created, true);
    assert.equal(incident.impact, "minor");
    assert.equal(incident.updates.length, 1);
    assert.deepEqual(incident.updates[0]!.affected_components, [{ code: "chat", name: "Chat", old_status: "operational", new_status: "degraded_performance" }]);
    const unresolved = await ctx.store.unresolvedIncidents();
    assert.deepEqual(unresolved.map((i) => i.id), [incident.id]);
  });

  it("writes a keyed update once, however often it is retried", async () => {
    const ctx = context();
    const { incident } = await openIncident(ctx, { name: "Gateway down", body: "Connections fail.", components: { gateway: "major_outage" }, author: person });
    const update = { id: incident.id, body: "We found the cause.", status: "identified" as const, author: person, key: "job-42" };
    const results = await Promise.all([appendUpdate(ctx, update), appendUpdate(ctx, update), appendUpdate(ctx, update)]);
    assert.equal(results.filter((r) => r.written).length, 1);
    const stored = await ctx.store.incident(incident.id);
    assert.equal(stored!.updates.length, 2);
    assert.equal(stored!.status, "identified");
    assert.equal(stored!.revision, 2);
  });

  it("keeps every concurrent unkeyed update (no lost writes)", async () => {
    const ctx = context();
    const { incident } = await openIncident(ctx, { name: "Busy", body: "Start.", author: person });
    await Promise.all(Array.from({ length: 4 }, (_, i) => appendUpdate(ctx, { id: incident.id, body: `Update ${i}.`, author: person })));
    const stored = await ctx.store.incident(incident.id);
    assert.equal(stored!.updates.length, 5);
  });

  it("opens one incident for one key", async () => {
    const ctx = context();
    const input = { name: "Auto", body: "Down.", components: { gateway: "major_outage" as const }, automatic: true, author: person, key: "transition-1" };
    const [a, b] = await Promise.all([openIncident(ctx, input), openIncident(ctx, input)]);
    assert.equal(a.incident.id, b.incident.id);
    assert.equal([a.created, b.created].filter(Boolean).length, 1);
    assert.equal(await ctx.store.automaticIncidentId(), a.incident.id);
  });

  it("resolves: components go back to operational and the incident leaves the unresolved set", async () => {
    const ctx = context();
    const { incident } = await openIncident(ctx, { name: "Auto", body: "Down.", components: { gateway: "major_outage" }, automatic: true, author: person });
    const { incident: resolved } = await resolveIncident(ctx, { id: incident.id, author: person });
    assert.equal(resolved.status, "resolved");
    assert.ok(resolved.resolved_at);
    assert.deepEqual(resolved.components, { gateway: "operational" });
    assert.deepEqual(resolved.updates.at(-1)!.affected_components, [{ code: "gateway", name: "Realtime gateway", old_status: "major_outage", new_status: "operational" }]);
    assert.deepEqual(await ctx.store.unresolvedIncidents(), []);
    assert.equal(await ctx.store.automaticIncidentId(), undefined);
  });

  it("refuses bad input with the field named, and unknown incidents", async () => {
    const ctx = context();
    await assert.rejects(openIncident(ctx, { name: "", body: "x", author: person }), (err: unknown) => err instanceof ValidationError && /name/.test(err.message));
    await assert.rejects(
      openIncident(ctx, { name: "x", body: "x", components: { ghost: "major_outage" }, author: person }),
      (err: unknown) => err instanceof ValidationError && /components\.ghost/.test(err.message),
    );
    await assert.rejects(appendUpdate(ctx, { id: "nope", body: "x", author: person }), NotFoundError);
  });

  it("records component transitions and shows the worse of computed and incident status", async () => {
    const ctx = context();
    assert.equal(await setComponentStatus(ctx, { id: "gateway", status: "operational" }), undefined);
    const transition = await setComponentStatus(ctx, { id: "gateway", status: "partial_outage", reason: "probe failed" });
    assert.deepEqual({ from: transition?.from, to: transition?.to }, { from: "operational", to: "partial_outage" });
    assert.equal(await setComponentStatus(ctx, { id: "gateway", status: "partial_outage" }), undefined);
    const history = await ctx.store.componentHistory("gateway");
    assert.equal(history.length, 1);
    const some = await ctx.store.componentsOf(["gateway", "chat"]);
    assert.deepEqual([...some.keys()], ["gateway"], "reads the components asked for; one never computed is absent");
    assert.equal(some.get("gateway")?.status, "partial_outage");

    await openIncident(ctx, { name: "Chat", body: "Slow.", components: { chat: "degraded_performance", gateway: "major_outage" }, author: person });
    const summary = await readSummary(ctx);
    const status = Object.fromEntries(summary.components.map((c) => [c.config.id, c.status]));
    assert.deepEqual(status, { gateway: "major_outage", chat: "degraded_performance" });
    assert.equal(summary.indicator, "critical");
    assert.equal(summary.description, "Major Service Outage");
  });
});
