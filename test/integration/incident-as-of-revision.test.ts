import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { appendUpdate, IncidentConflict, openIncident, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";

/**
 * An entry decided from what an incident was (the incident worker's
 * "monitoring", a playbook's verify: each tells the public only if the other
 * has not) is refused when the incident was written since, so the two never
 * both announce it (seen in CI with two suites: "monitoring" said twice).
 */
describe("an incident update decided from a revision (real redis-server)", () => {
  let redis: TestRedis;
  const person = { kind: "person" as const, name: "alice" };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it("is written while the incident is as read, and refused with IncidentConflict, writing nothing, once it was written since", async () => {
    const ctx: StatusContext = { store: new StatusStore(redis.client, uniquePrefix("as-of")), components: [{ id: "chat", name: "Chat" }] as StatusContext["components"] };
    const { incident } = await openIncident(ctx, { name: "Chat down", body: "Chat is down.", components: { chat: "major_outage" }, author: person });
    const read = incident.revision;
    const { incident: fixed } = await appendUpdate(ctx, { id: incident.id, status: "monitoring", body: "Fixed; watching.", author: person, as_of_revision: read, key: "playbook" });
    assert.equal(fixed.status, "monitoring");
    // The other writer decided from the same revision: refused, not written under its key, not retried on the new one.
    await assert.rejects(appendUpdate(ctx, { id: incident.id, status: "monitoring", body: "Operational again; watching.", author: person, as_of_revision: read, key: "worker" }), IncidentConflict);
    const now = await ctx.store.incident(incident.id);
    assert.deepEqual(now!.updates.map((u) => u.body), ["Chat is down.", "Fixed; watching."], "one monitoring entry");
    // Decided again from what is there now, it goes in.
    await appendUpdate(ctx, { id: incident.id, body: "Operational again.", internal: true, author: person, as_of_revision: now!.revision, key: "worker" });
    assert.equal((await ctx.store.incident(incident.id))!.updates.length, 3);
  });
});
