import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import type { Incident } from "../../src/status/index.ts";
import { startIncidentStack, type IncidentStack } from "../helpers/incident-stack.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * `incidents.publish: review` on real parts: results through the evaluate
 * queue, the incident worker, on-call posts to a webhook receiver, a
 * confirmed webhook subscriber, and the web app's public surfaces and admin
 * API (src/roles/worker.ts and web.ts wire the same pieces).
 */

type AdminIncident = Incident & { draft: boolean; publish_at: string | null };

const PAGE_URL = "https://status.review.example";

describe("automatic incidents wait for a person (incidents.publish: review)", { timeout: 120_000 }, () => {
  let redis: TestRedis;

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  const bearer = (s: IncidentStack, token = s.token) => ({ authorization: `Bearer ${token}` });
  const adminIncidents = async (s: IncidentStack): Promise<AdminIncident[]> => (await request(s.app).get("/admin/api/incidents").set(bearer(s)).expect(200)).body.incidents;
  const adminIncident = async (s: IncidentStack, id: string): Promise<AdminIncident> => (await request(s.app).get(`/admin/api/incidents/${id}`).set(bearer(s)).expect(200)).body.incident;
  const publish = (s: IncidentStack, id: string, token = s.token) => request(s.app).post(`/admin/api/incidents/${id}/publish`).set(bearer(s, token)).send({});
  const draftOf = async (s: IncidentStack): Promise<AdminIncident> => {
    const [incident] = await adminIncidents(s);
    assert.ok(incident, "the outage opened an incident");
    return incident;
  };

  /** Everything a customer can read, as text, after the snapshot took in what the store holds now. */
  async function publicSurfaces(s: IncidentStack) {
    await s.snapshot.refresh();
    const get = async (path: string) => (await request(s.app).get(path).buffer(true).parse((res, done) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => done(null, text));
    })).body as string;
    const summary = (await request(s.app).get("/api/v2/summary.json").expect(200)).body;
    const incidents = (await request(s.app).get("/api/v2/incidents.json").expect(200)).body.incidents as { id: string; name: string; incident_updates: { body: string }[] }[];
    const unresolved = (await request(s.app).get("/api/v2/incidents/unresolved.json").expect(200)).body.incidents as { id: string }[];
    const components = (await request(s.app).get("/api/v2/components.json").expect(200)).body.components as { id: string; status: string }[];
    const text = (await Promise.all(["/", "/history", "/history.rss", "/history.atom", "/badge.svg", "/badge/chat.svg"].map(get))).join("\n");
    return { summary, incidents, unresolved, chat: components.find((c) => c.id === "chat")?.status, text, digest: s.snapshot.current()!.summaryDigest };
  }

  it("an outage opens a draft that on-call hears of at once and customers never see; a person publishes it, once, everywhere", async () => {
    const s = await startIncidentStack(redis, { incidents: "{ publish: review, review_timeout: 1h }" });
    try {
      const quiet = await publicSurfaces(s);
      await s.round("failed");
      const draft = await draftOf(s);
      assert.equal(draft.draft, true, "the admin list says it is a draft");
      assert.equal(draft.automatic, true);
      const publishesIn = Date.parse(draft.publish_at!) - Date.parse(draft.created_at);
      assert.ok(Math.abs(publishesIn - 3_600_000) < 5_000, `it publishes itself review_timeout after it opened (${publishesIn} ms)`);
      assert.deepEqual(await adminIncident(s, draft.id).then((i) => [i.draft, i.publish_at]), [true, draft.publish_at], "so does its detail");

      const [opening] = await waitFor("on-call's post of the draft", () => (s.oncallPosts(draft.id).length > 0 ? s.oncallPosts(draft.id) : undefined), 10_000, 25);
      assert.equal(opening!.type, "incident.opened");
      assert.match(opening!.data.update.body, /chat-echo failed from local: connect: connection refused/, "with what failed, for on-call");
      assert.match(opening!.data.update.body, /Draft awaiting review \(incidents\.publish: review\): customers see nothing of this incident yet\./);
      assert.ok(opening!.data.update.body.includes(`POST ${PAGE_URL}/admin/api/incidents/${draft.id}/publish`), "and how to publish it");
      assert.ok(opening!.data.update.body.includes(`it publishes itself at ${draft.publish_at}`));

      const hidden = await publicSurfaces(s);
      assert.deepEqual(hidden.summary.incidents, [], "not in summary.json");
      assert.deepEqual([hidden.incidents, hidden.unresolved], [[], []], "nor in incidents.json or unresolved.json");
      assert.equal(hidden.summary.status.indicator, "none");
      assert.equal(hidden.chat, "operational", "its component does not change while it is a draft: no outage without an incident explaining it");
      assert.equal((await s.status.store.effective()).get("chat")?.status ?? "operational", "operational", "nor does its uptime record");
      for (const secret of [draft.id, draft.name, "New connections to Chat are failing"]) assert.ok(!hidden.text.includes(secret), `the page, history, feeds and badges do not show ${secret}`);
      assert.match(hidden.text, /aria-label="Chat: operational"/, "the component's badge still says operational");
      assert.equal(hidden.digest, quiet.digest, "live updates have nothing to send: what the page shows did not change");
      await request(s.app).get(`/incidents/${draft.id}`).expect(404);

      const alice = (await request(s.app).post("/admin/api/tokens").set(bearer(s)).send({ name: "alice", scopes: ["incidents"] }).expect(201)).body.token as string;
      const rita = (await request(s.app).post("/admin/api/tokens").set(bearer(s)).send({ name: "rita", scopes: ["read"] }).expect(201)).body.token as string;
      const refused = await publish(s, draft.id, rita).expect(403);
      assert.match(refused.body.message, /lacks the "incidents" scope/);
      const published = (await publish(s, draft.id, alice).expect(200)).body.incident as AdminIncident;
      assert.deepEqual([published.draft, published.publish_at], [false, null]);
      assert.ok(published.published_at);
      const again = await publish(s, draft.id, alice).expect(409);
      assert.equal(again.body.code, "conflict");
      assert.equal(again.body.message, `incident ${draft.id} is not a draft: it is public already`);
      const entry = published.updates.at(-1)!;
      assert.deepEqual([entry.author, entry.draft, entry.status], [{ kind: "person", name: "alice" }, undefined, "investigating"], "the timeline credits the token's name");
      const audit = (await request(s.app).get("/admin/api/audit").set(bearer(s)).expect(200)).body.entries as { actor: string; method: string; path: string; status: number | null }[];
      assert.ok(audit.some((e) => e.actor === "alice" && e.method === "POST" && e.path === `/admin/api/incidents/${draft.id}/publish` && e.status === 200), JSON.stringify(audit));

      const shown = await publicSurfaces(s);
      assert.deepEqual(shown.incidents.map((i) => i.id), [draft.id], "in incidents.json now");
      assert.deepEqual(shown.unresolved.map((i) => i.id), [draft.id]);
      assert.deepEqual(shown.summary.incidents.map((i: { id: string }) => i.id), [draft.id]);
      assert.deepEqual(shown.incidents[0]!.incident_updates.map((u) => u.body), ["New connections to Chat are failing. We are investigating."], "one public entry for its state now, in the public wording");
      assert.equal(shown.chat, "major_outage", "its component shows the outage with the incident that explains it");
      assert.ok(shown.text.includes(draft.name) && shown.text.includes(draft.id), "on the page, history and feeds");
      assert.notEqual(shown.digest, quiet.digest, "and live updates send it");
      await request(s.app).get(`/incidents/${draft.id}`).expect(200);

      const [post] = await waitFor("the subscriber's post", () => (s.subscriberPosts(draft.id).length > 0 ? s.subscriberPosts(draft.id) : undefined), 10_000, 25);
      assert.equal(post!.incident!.status, "investigating");
      assert.deepEqual(post!.incident!.incident_updates.map((u) => u.id), [entry.id], "the subscriber reads the public entry only");
      const change = await waitFor("the component update of chat", () => s.componentPosts("chat")[0], 10_000, 25);
      assert.deepEqual([change.component_update!.old_status, change.component_update!.new_status], ["operational", "major_outage"]);
      assert.ok(change.component_update!.created_at >= published.published_at!, "sent when it was published, not when the draft opened");
      const told = await waitFor("on-call's post of the publishing", () => s.oncallPosts(draft.id).find((p) => p.data.update.id === entry.id), 10_000, 25);
      assert.match(told.data.update.body, /^Published by alice: customers see it from now on\./);

      // Its next public entry is the marker: the subscriber had every earlier post by then, and the opening once.
      await s.round("ok");
      await waitFor("the monitoring post", () => s.subscriberPosts(draft.id).length >= 2, 10_000, 25);
      assert.deepEqual(s.subscriberPosts(draft.id).map((p) => p.incident!.status), ["investigating", "monitoring"]);
      assert.deepEqual(s.subscriberPosts(draft.id).map((p) => p.incident!.incident_updates.length), [1, 2], "the draft's entries never reach the subscriber");
    } finally {
      await s.stop();
    }
  });

  it("an unreviewed draft publishes itself after review_timeout, once, though the worker that opened it is gone and two others run", async () => {
    const s = await startIncidentStack(redis, { incidents: "{ publish: review, review_timeout: 2s }" });
    try {
      await s.round("failed");
      const draft = await draftOf(s);
      assert.equal(draft.draft, true);
      const timer = await waitFor("the draft's review timer in Redis", async () => {
        const job = await s.incidentsQueue().getJob(`publish.${draft.id}`);
        return job && (await job.getState()) === "delayed" ? job : undefined;
      }, 5_000, 25);
      assert.ok(timer);
      await s.stopIncidentWorker();
      s.startIncidentWorker();
      s.startIncidentWorker();

      const published = await waitFor("the draft to publish itself", async () => {
        const incident = await s.status.store.incident(draft.id);
        return incident && !incident.draft ? incident : undefined;
      }, 10_000, 50);
      const after = Date.parse(published.published_at!) - Date.parse(draft.created_at);
      assert.ok(after >= 1_900 && after < 10_000, `it published itself review_timeout after it opened (${after} ms)`);
      const publicEntries = published.updates.filter((u) => !u.draft);
      assert.equal(publicEntries.length, 1, "one publishing, however many workers");
      assert.deepEqual(publicEntries[0]!.author, { kind: "automatic", name: "Pulseboard" });
      const told = await waitFor("on-call's post that it published itself", () => s.oncallPosts(draft.id).find((p) => p.data.update.id === publicEntries[0]!.id), 10_000, 25);
      assert.match(told.data.update.body, /^Nobody published this draft within 2s \(incidents\.review_timeout\), so it published itself: customers see it from now on\./);
      const job = await waitFor("the timer job to finish", async () => {
        const j = await s.incidentsQueue().getJob(`publish.${draft.id}`);
        return j?.finishedOn ? j : undefined;
      }, 5_000, 25);
      assert.deepEqual(job.returnvalue, { incident: draft.id, published: true });

      const shown = await publicSurfaces(s);
      assert.deepEqual(shown.incidents.map((i) => i.id), [draft.id]);
      assert.equal(shown.chat, "major_outage");
      await waitFor("the subscriber's post", () => s.subscriberPosts(draft.id).length > 0, 10_000, 25);
      await s.round("ok");
      await waitFor("the monitoring post", () => s.subscriberPosts(draft.id).length >= 2, 10_000, 25);
      assert.deepEqual(s.subscriberPosts(draft.id).map((p) => p.incident!.status), ["investigating", "monitoring"], "the subscriber got the opening once");
      assert.equal((await s.status.store.incident(draft.id))!.updates.filter((u) => !u.draft).length, 2);
    } finally {
      await s.stop();
    }
  });

  it("a draft that resolves before anyone reviews it never appears publicly, and its timer publishes nothing", async () => {
    const s = await startIncidentStack(redis, { incidents: "{ publish: review, review_timeout: 1h }" });
    try {
      await s.round("failed");
      const draft = await draftOf(s);
      await s.round("ok");
      const resolved = await waitFor("the draft to resolve after its quiet period", async () => {
        const incident = await s.status.store.incident(draft.id);
        return incident?.status === "resolved" ? incident : undefined;
      }, 10_000, 50);
      assert.equal(resolved.draft, true, "still a draft");
      assert.deepEqual(resolved.updates.map((u) => [u.status, u.draft]), [["investigating", true], ["monitoring", true], ["resolved", true]], "its timeline kept growing while a draft");
      const told = await waitFor("on-call's post of the resolution", () => s.oncallPosts(draft.id).find((p) => p.data.update.status === "resolved"), 10_000, 25);
      assert.match(told.data.update.body, /This draft resolved before anyone published it: customers never saw it, and it will not be published\./);
      assert.deepEqual(await adminIncident(s, draft.id).then((i) => [i.draft, i.status, i.publish_at]), [true, "resolved", null], "the admin API says it never will publish itself");

      const refused = await publish(s, draft.id).expect(409);
      assert.equal(refused.body.message, `incident ${draft.id} resolved while it was a draft, so it stays off the public page; to tell customers about it, open an incident by hand`);
      // Its timer runs now instead of in an hour: it finds a resolved draft and publishes nothing.
      const timer = (await s.incidentsQueue().getJob(`publish.${draft.id}`))!;
      await timer.promote();
      const done = await waitFor("the timer job to finish", async () => {
        const j = await s.incidentsQueue().getJob(`publish.${draft.id}`);
        return j?.finishedOn ? j : undefined;
      }, 10_000, 25);
      assert.deepEqual(done.returnvalue, {});
      assert.equal((await s.status.store.incident(draft.id))!.draft, true);

      // A person's public incident is the marker: once its posts arrived, every earlier outbox entry had been dispatched.
      const manual = (await request(s.app).post("/admin/api/incidents").set(bearer(s)).send({ name: "Q&A is slow", body: "Questions take a while to appear.", components: { qa: "degraded_performance" } }).expect(201)).body.incident as Incident;
      await waitFor("the marker's incident post", () => s.subscriberPosts(manual.id).length > 0, 10_000, 25);
      await waitFor("the marker's component update", () => s.componentPosts("qa").length > 0, 10_000, 25);
      assert.deepEqual(s.subscriberPosts().map((p) => p.incident!.id), [manual.id], "the subscriber never heard of the draft");
      assert.deepEqual(s.componentPosts("chat"), [], "nor of a change of chat");
      const shown = await publicSurfaces(s);
      assert.deepEqual(shown.incidents.map((i) => i.id), [manual.id]);
      assert.ok(!shown.text.includes(draft.id) && !shown.text.includes(draft.name), "not on the page, in history or the feeds");
      await request(s.app).get(`/incidents/${draft.id}`).expect(404);
      assert.deepEqual((await adminIncidents(s)).map((i) => [i.id, i.draft]), [[manual.id, false], [draft.id, true]], "on-call lists both, newest first");
    } finally {
      await s.stop();
    }
  });

  it("with publish: auto (the default) an outage is public as it opens, as before", async () => {
    const s = await startIncidentStack(redis, { incidents: "{}" });
    try {
      await s.round("failed");
      const [incident] = await adminIncidents(s);
      assert.deepEqual([incident!.draft, incident!.publish_at], [false, null]);
      const shown = await publicSurfaces(s);
      assert.deepEqual(shown.incidents.map((i) => i.id), [incident!.id]);
      assert.equal(shown.chat, "major_outage");
      const [post] = await waitFor("the subscriber's post", () => (s.subscriberPosts(incident!.id).length > 0 ? s.subscriberPosts(incident!.id) : undefined), 10_000, 25);
      assert.equal(post!.incident!.incident_updates[0]!.body, "New connections to Chat are failing. We are investigating.");
      const [opening] = await waitFor("on-call's post", () => (s.oncallPosts(incident!.id).length > 0 ? s.oncallPosts(incident!.id) : undefined), 10_000, 25);
      assert.doesNotMatch(opening!.data.update.body, /[Dd]raft/);
      const refused = await publish(s, incident!.id).expect(409);
      assert.match(refused.body.message, /is not a draft: it is public already/);
      assert.equal((await publish(s, "no-such-incident").expect(404)).body.message, "incident no-such-incident not found");
      assert.match((await request(s.app).post(`/admin/api/incidents/${incident!.id}/publish`).set(bearer(s)).send({ body: 42 }).expect(400)).body.message, /^body: expected the text customers read first/);
    } finally {
      await s.stop();
    }
  });
});
