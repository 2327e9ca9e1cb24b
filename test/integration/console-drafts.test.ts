import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { ConsoleClient, decodeEntities } from "../helpers/console.ts";
import { startIncidentStack, type IncidentStack } from "../helpers/incident-stack.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * `incidents.publish: review` in the console, on real parts (results through
 * the evaluate queue, the incident worker, on-call posts, the web app over
 * real HTTP): a draft is listed apart, its page offers Publish, and publishing
 * from there puts it on the public surfaces once, credited to whoever signed in.
 */
describe("drafts in the console (incidents.publish: review)", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let stack: IncidentStack;
  let server: http.Server;
  let client: ConsoleClient;

  before(async () => {
    redis = await startRedis();
    stack = await startIncidentStack(redis, { incidents: "{ publish: review, review_timeout: 1h }" });
    server = http.createServer(stack.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    client = new ConsoleClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await client.signIn(stack.token);
  });
  after(async () => {
    server?.close();
    await stack?.stop();
    await redis?.stop();
  });

  const publicIncidents = async () => {
    await stack.snapshot.refresh();
    return (await request(stack.app).get("/api/v2/incidents.json").expect(200)).body.incidents as { id: string; incident_updates: { body: string }[] }[];
  };

  it("lists a draft apart, publishes it from its page once, and credits the person", async () => {
    await stack.round("failed");
    const draft = await waitFor("the draft", async () => (await stack.status.store.recentIncidentsAndDrafts(10)).find((i) => i.draft), 10_000, 50);
    assert.deepEqual(await publicIncidents(), [], "customers see nothing of it yet");

    const list = (await client.get("/admin/incidents")).text;
    const drafts = list.indexOf("Drafts awaiting review");
    assert.ok(drafts > 0, "the list has a drafts section");
    assert.ok(list.indexOf(`/admin/incidents/${draft.id}`) > drafts && list.indexOf(`/admin/incidents/${draft.id}`) < list.indexOf('id="open-heading"'), "the draft is listed there, before the open public incidents");

    const { _csrf, key, html } = await client.formOf(`/admin/incidents/${draft.id}`);
    assert.match(html, /Publish this draft/);
    assert.ok(html.includes(`datetime="${draft.publish_at}"`), "the page says when it publishes itself");
    assert.ok(!html.includes(`href="/incidents/${draft.id}"`), "no link to a public page that does not exist yet");

    const forged = await client.post(`/admin/incidents/${draft.id}/publish`, { key, message: "" });
    assert.equal(forged.status, 403, "no CSRF token: refused");
    assert.equal((await stack.status.store.incident(draft.id))?.draft, true, "and still a draft");

    const words = "Some users cannot connect to Chat. We are looking into it.";
    const done = await client.post(`/admin/incidents/${draft.id}/publish`, { _csrf, key, message: words });
    assert.equal(done.status, 303, decodeEntities(done.text));
    assert.equal(done.location, `/admin/incidents/${draft.id}?done=draft-published`);

    const published = await publicIncidents();
    assert.deepEqual(published.map((i) => i.id), [draft.id], "it is public now");
    assert.deepEqual(published[0]!.incident_updates.map((u) => u.body), [words], "with the person's words as its one public entry");
    const after = await stack.status.store.incident(draft.id);
    assert.equal(after?.draft ?? false, false);
    assert.equal(after?.updates.at(-1)?.author?.name, "admin", "the entry is credited to the signed-in token's name");
    assert.ok((await client.get(`/admin/incidents/${draft.id}`)).text.includes(`href="/incidents/${draft.id}"`), "once public, its page links to the public page");
    assert.ok(!(await client.get("/admin/incidents")).text.includes("Drafts awaiting review"), "no drafts are left to review");

    const again = await client.post(`/admin/incidents/${draft.id}/publish`, { _csrf, key: "another-key", message: "" });
    assert.equal(again.status, 409, "a second publish is refused");
    assert.match(decodeEntities(again.text), /is not a draft: it is public already/);
    assert.equal((await publicIncidents())[0]!.incident_updates.length, 1, "and wrote nothing");
  });
});
