import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { listTemplates, type IncidentTemplate } from "../../src/status/index.ts";
import { ConsoleClient, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * Incident templates in the console and on the admin API, over real HTTP
 * against a real redis-server: create one, compose an incident from it
 * (the incident carries the filled-in text), unknown placeholders and
 * bad fields refused by name, hostile text stored as typed and shown
 * escaped, and a read token's controls disabled and its POSTs 403.
 */

const TOKEN = "console-templates-bootstrap-token-0123456789";
const SCRIPT = "<script>alert(1)</script>";

describe("incident templates in the console (real redis-server, real HTTP)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let server: http.Server;
  let base: string;
  let client: ConsoleClient;

  const api = (method: string, path: string, body?: unknown, token = TOKEN) =>
    fetch(`${base}/admin/api${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const stored = () => listTemplates(rig.status);
  const create = async (fields: Record<string, string>) => {
    const { _csrf } = await client.formOf("/admin/templates/new");
    return client.post("/admin/templates", { _csrf, name: "Chat slow", title: "{components} {is} slow", body: "Messages to {components} on {page} are late.", "component.chat": "degraded_performance", "component.qa": "none", ...fields });
  };

  before(async () => {
    rig = await startWebRig(`
page: { name: Acme Status, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
`, { tokens: [TOKEN] });
    server = http.createServer(rig.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new ConsoleClient(base);
    await client.signIn(TOKEN);
  });

  after(async () => {
    server?.close();
    await rig?.stop();
  });

  it("creates a template, composes from it with Use template (a GET), and the incident carries the filled-in text", async () => {
    const created = await create({ name: "Chat and Q&A slow", "component.qa": "partial_outage" });
    assert.equal(created.status, 303, created.text);
    const template = (await stored()).find((t) => t.name === "Chat and Q&A slow")!;
    assert.deepEqual(template.components, { chat: "degraded_performance", qa: "partial_outage" });
    assert.equal(template.title, "{components} {is} slow", "stored as typed, placeholders unfilled");

    const list = await client.get("/admin/templates");
    assert.equal(list.status, 200);
    assert.match(list.text, /Chat and Q&amp;A slow/);

    const composer = await client.get(`/admin/incidents/new?template=${template.id}`);
    assert.equal(composer.status, 200);
    assert.match(composer.text, new RegExp(`<option value="${template.id}" selected>`));
    assert.match(composer.text, /name="title" type="text" required maxlength="200" value="Chat and Q&amp;A are slow"/);
    assert.match(composer.text, /Messages to Chat and Q&amp;A on Acme Status are late\.<\/textarea>/);
    assert.match(composer.text, /name="component\.qa">(?:(?!<\/select>).)*<option value="partial_outage" selected>/);

    const title = decodeEntities(/name="title"[^>]*value="([^"]*)"/.exec(composer.text)![1]!);
    const message = decodeEntities(/name="message"[^>]*>([^<]*)<\/textarea>/.exec(composer.text)![1]!);
    const { _csrf, key } = await client.formOf(`/admin/incidents/new?template=${template.id}`);
    const published = await client.post("/admin/incidents", { _csrf, key, title, status: "investigating", message, "component.chat": "degraded_performance", "component.qa": "partial_outage", notify: "on" });
    assert.equal(published.status, 303, published.text);
    const incident = (await rig.status.store.recentIncidents(5))[0]!;
    assert.equal(incident.name, "Chat and Q&A are slow");
    assert.equal(incident.updates[0]!.body, "Messages to Chat and Q&A on Acme Status are late.");
    assert.deepEqual(incident.components, { chat: "degraded_performance", qa: "partial_outage" });
  });

  it("refuses an unknown placeholder at save time, naming it and the near one; nothing is stored", async () => {
    const before = (await stored()).length;
    const answer = await create({ name: "Typo", body: "{componets} are down", title: "Down {when}" });
    assert.equal(answer.status, 400);
    assert.deepEqual(issuesOf(answer.text), [
      "Title: {when} is not a placeholder here; use {components}, {is}, {has}, {page}",
      'Message: {componets} is not a placeholder here (did you mean "components"?); use {components}, {is}, {has}, {page}',
    ]);
    assert.match(answer.text, /\{componets\} are down<\/textarea>/, "the form comes back with what was typed");
    assert.equal((await stored()).length, before);

    const viaApi = await api("POST", "/templates", { name: "Typo", title: "{constructor}", body: "{{page}} and {page" });
    assert.equal(viaApi.status, 400);
    const said = JSON.stringify(await viaApi.json());
    assert.match(said, /title: \{constructor\} is not a placeholder here/);
    assert.match(said, /body: \\"\{\\" is not closed/);
    assert.equal((await stored()).length, before);
  });

  it("names missing, oversized and unknown fields (form and API) and stores nothing", async () => {
    const before = (await stored()).length;
    const empty = await create({ name: " ", title: "", body: "" });
    assert.equal(empty.status, 400);
    assert.deepEqual(issuesOf(empty.text), ["Name: must not be empty", "Title: must not be empty", "Message: must not be empty"]);
    const big = await create({ name: "n".repeat(81), body: "b".repeat(20_001), "component.chat": "on_fire" });
    assert.equal(big.status, 400);
    assert.deepEqual(issuesOf(big.text), ['Chat: choose "not affected" or a status (operational, under_maintenance, degraded_performance, partial_outage, major_outage), not "on_fire"']);
    const long = await create({ name: "n".repeat(81), body: "b".repeat(20_001) });
    assert.deepEqual(issuesOf(long.text), ["Name: Too big: expected string to have <=80 characters", "Message: Too big: expected string to have <=20000 characters"]);

    const unknownComponent = await api("POST", "/templates", { name: "x", title: "x", body: "x", components: { chatt: "major_outage" } });
    assert.equal(unknownComponent.status, 400);
    assert.match(JSON.stringify(await unknownComponent.json()), /components\.chatt: no component has the id \\"chatt\\" \(did you mean \\"chat\\"\?\)/);
    assert.equal((await api("POST", "/templates", { name: "x", title: "x", body: "x", author: { kind: "person", name: "mallory" } })).status, 400);
    assert.equal((await stored()).length, before);
  });

  it("stores hostile text as typed and always shows it escaped (list, editor, composer, delete page)", async () => {
    const answer = await create({ name: `${SCRIPT} name`, title: `${SCRIPT} {components}`, body: `<img src=x onerror="alert(2)"> {page}` });
    assert.equal(answer.status, 303, answer.text);
    const template = (await stored()).find((t) => t.name.startsWith("<script>"))!;
    assert.equal(template.title, `${SCRIPT} {components}`);
    for (const path of ["/admin/templates", `/admin/templates/${template.id}`, `/admin/incidents/new?template=${template.id}`, `/admin/templates/${template.id}/delete`]) {
      const page = await client.get(path);
      assert.equal(page.status, 200, path);
      assert.ok(!page.text.includes("<script>alert"), `${path}: no <script> tag`);
      assert.ok(!page.text.includes("<img src=x"), `${path}: no <img> tag`);
      assert.match(page.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, `${path}: shown escaped`);
    }
  });

  it("edits through the API (PUT) and the form, and deletes only after its confirmation page", async () => {
    const created = (await (await api("POST", "/templates", { name: "Cache", title: "Cache trouble", body: "The cache is slow.", components: { chat: "major_outage" } })).json()) as { template: IncidentTemplate };
    const id = created.template.id;
    const put = await api("PUT", `/templates/${id}`, { name: "Cache", title: "Cache trouble on {page}", body: "The cache is slow.", components: {} });
    assert.equal(put.status, 200);
    assert.equal(((await put.json()) as { template: IncidentTemplate }).template.title, "Cache trouble on {page}");
    assert.equal((await api("PUT", "/templates/nosuch", { name: "x", title: "x", body: "x" })).status, 404);

    const { _csrf } = await client.formOf(`/admin/templates/${id}`);
    const edited = await client.post(`/admin/templates/${id}`, { _csrf, name: "Cache (edited)", title: "Cache trouble", body: "Slow.", "component.chat": "none", "component.qa": "none" });
    assert.equal(edited.status, 303, edited.text);
    assert.equal((await stored()).find((t) => t.id === id)!.name, "Cache (edited)");

    const confirm = await client.get(`/admin/templates/${id}/delete`);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /Delete the template “Cache \(edited\)”\?/);
    const deleted = await client.post(`/admin/templates/${id}/delete`, { _csrf });
    assert.equal(deleted.status, 303);
    assert.equal((await stored()).some((t) => t.id === id), false);
    assert.equal((await client.get(`/admin/templates/${id}`)).status, 404);
    assert.equal((await api("DELETE", `/templates/${id}`)).status, 404);
    const gone = await client.get(`/admin/incidents/new?template=${id}`);
    assert.equal(gone.status, 404);
    assert.deepEqual(issuesOf(gone.text), ["Template: there is no such template (it may have been deleted); choose another or start from a blank form"]);

    const audit = ((await (await api("GET", "/audit?limit=100")).json()) as { entries: { method: string; path: string }[] }).entries;
    assert.ok(audit.some((e) => e.method === "POST" && e.path === `/admin/templates/${id}/delete`), "the console's delete is in the audit log");
    assert.ok(audit.some((e) => e.method === "PUT" && e.path === `/admin/api/templates/${id}`), "the API's edit is in the audit log");
  });

  it("two people editing one template: the second save does not silently overwrite the first; the API's if_updated_at says the same", async () => {
    const created = (await (await api("POST", "/templates", { name: "Gateway", title: "Gateway trouble", body: "Connections fail.", components: {} })).json()) as { template: IncidentTemplate };
    const id = created.template.id;
    const bob = new ConsoleClient(base);
    await bob.signIn(TOKEN);
    const alicesForm = await client.formOf(`/admin/templates/${id}`);
    const bobsForm = await bob.formOf(`/admin/templates/${id}`);
    assert.ok(alicesForm.html.includes(`name="read_at" value="${created.template.updated_at}"`), "the form carries the version it was opened with");
    const fields = { "component.chat": "none", "component.qa": "none" };
    const first = await client.post(`/admin/templates/${id}`, { _csrf: alicesForm._csrf, read_at: created.template.updated_at, name: "Gateway", title: "Gateway trouble", body: "Alice's words.", ...fields });
    assert.equal(first.status, 303, first.text);

    const second = await bob.post(`/admin/templates/${id}`, { _csrf: bobsForm._csrf, read_at: created.template.updated_at, name: "Gateway", title: "Gateway trouble", body: "Bob's words.", ...fields });
    assert.equal(second.status, 409);
    const [issue] = issuesOf(second.text);
    assert.match(issue!, /^Not saved: admin saved this template at \d{4}-\d\d-\d\d \d\d:\d\d UTC after you opened it\./);
    assert.ok(second.text.includes("Bob&#x27;s words.") || second.text.includes("Bob's words."), "what Bob typed is still in the form");
    assert.equal((await stored()).find((t) => t.id === id)!.body, "Alice's words.", "Alice's save stands");

    // Bob saw the warning; sending his form again (it now carries Alice's version) replaces it knowingly.
    const now = /name="read_at" value="([^"]+)"/.exec(second.text)![1]!;
    const again = await bob.post(`/admin/templates/${id}`, { _csrf: bobsForm._csrf, read_at: now, name: "Gateway", title: "Gateway trouble", body: "Bob's words.", ...fields });
    assert.equal(again.status, 303, again.text);
    assert.equal((await stored()).find((t) => t.id === id)!.body, "Bob's words.");

    const stale = await api("PUT", `/templates/${id}`, { name: "Gateway", title: "x", body: "x", if_updated_at: created.template.updated_at });
    assert.equal(stale.status, 409);
    assert.match(((await stale.json()) as { message: string }).message, /saved this template at .* after it was read .*: nothing was saved/);
    assert.equal((await stored()).find((t) => t.id === id)!.body, "Bob's words.", "nothing changed");
    await api("DELETE", `/templates/${id}`);
  });

  it("a read token sees the controls disabled and its forged POSTs are 403 (console and API); nothing changes", async () => {
    const reader = (await (await api("POST", "/tokens", { name: "viewer", scopes: ["read"] })).json()) as { token: string };
    const viewer = new ConsoleClient(base);
    await viewer.signIn(reader.token);
    const template = (await stored())[0]!;
    const editor = await viewer.get(`/admin/templates/${template.id}`);
    assert.equal(editor.status, 200);
    assert.match(editor.text, /<fieldset class="controls" disabled>/);
    assert.match(editor.text, /can read templates but not change them/);
    const before = await stored();
    const { _csrf } = await viewer.formOf("/admin/templates/new");
    const forged = [
      await viewer.post("/admin/templates", { _csrf, name: "Forged", title: "t", body: "b" }),
      await viewer.post(`/admin/templates/${template.id}`, { _csrf, name: "Forged", title: "t", body: "b" }),
      await viewer.post(`/admin/templates/${template.id}/delete`, { _csrf }),
    ];
    for (const answer of forged) {
      assert.equal(answer.status, 403);
      assert.match(answer.text, /lacks the &quot;incidents&quot; scope/);
    }
    assert.equal((await api("POST", "/templates", { name: "Forged", title: "t", body: "b" }, reader.token)).status, 403);
    assert.equal((await api("GET", "/templates", undefined, reader.token)).status, 200);
    const noCsrf = await client.post("/admin/templates", { name: "No CSRF", title: "t", body: "b" });
    assert.equal(noCsrf.status, 403);
    assert.deepEqual(await stored(), before);
  });
});
