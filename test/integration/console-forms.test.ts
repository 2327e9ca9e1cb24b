import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Incident } from "../../src/status/index.ts";
import { ConsoleClient, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * Every console form under missing, oversized (1 MiB) and hostile input,
 * over real HTTP against a real redis-server: a 4xx page naming the field,
 * nothing stored, and nothing a person typed rendered unescaped.
 */

const TOKEN = "console-forms-bootstrap-token-0123456789";
const MIB = "m".repeat(1024 * 1024);
const SCRIPT = "<script>alert(1)</script>";
const IMG = '<img src=x onerror="alert(2)">';

/** No markup a person typed made it into the page as markup. */
function assertNoRawMarkup(html: string): void {
  assert.ok(!html.includes("<script>"), "no <script> tag on the page");
  assert.ok(!html.includes("<img src=x"), "no <img> tag on the page");
}

describe("console forms under bad input (real redis-server, real HTTP)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let server: http.Server;
  let client: ConsoleClient;
  let incident: Incident;

  const incidents = async () => rig.status.store.recentIncidents(500);
  const compose = async (fields: Record<string, string | string[]>) => {
    const { _csrf, key } = await client.formOf("/admin/incidents/new");
    return client.post("/admin/incidents", { _csrf, key, title: "Chat is slow", status: "investigating", message: "Messages are late.", "component.chat": "degraded_performance", "component.qa": "none", notify: "on", ...fields });
  };
  const onIncident = async (action: "updates" | "resolve", fields: Record<string, string | string[]>) => {
    const { _csrf } = await client.formOf(`/admin/incidents/${incident.id}`);
    const base: Record<string, string> = action === "updates" ? { status: "identified", message: "Found it.", "component.chat": "partial_outage", notify: "on" } : { message: "", notify: "on" };
    return client.post(`/admin/incidents/${incident.id}/${action}`, { _csrf, ...base, ...fields });
  };

  before(async () => {
    rig = await startWebRig(`
page: { name: Forms, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
`, { tokens: [TOKEN] });
    server = http.createServer(rig.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    client = new ConsoleClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await client.signIn(TOKEN);
    const opened = await compose({ title: "Chat is down", "component.chat": "major_outage" });
    assert.equal(opened.status, 303);
    incident = (await incidents())[0]!;
  });

  after(async () => {
    server?.close();
    await rig?.stop();
  });

  it("the composer names each missing field and stores nothing", async () => {
    const before = (await incidents()).length;
    const answer = await compose({ title: "  ", status: "", message: "" });
    assert.equal(answer.status, 400);
    assert.deepEqual(issuesOf(answer.text), [
      "Title: give the incident a title",
      "Status: choose one of investigating, identified, monitoring, resolved",
      "Message: say what is happening (customers read it)",
    ]);
    assert.match(answer.text, /<strong>Nothing was saved\.<\/strong>/);
    assert.equal((await incidents()).length, before);
  });

  it("the composer names a 1 MiB field (title, message) and stores nothing; a body past 2 MiB is refused whole", async () => {
    const before = (await incidents()).length;
    const longMessage = await compose({ message: MIB });
    assert.equal(longMessage.status, 400);
    assert.deepEqual(issuesOf(longMessage.text), ["Message: Too big: expected string to have <=20000 characters"]);
    const longTitle = await compose({ title: MIB });
    assert.equal(longTitle.status, 400);
    assert.deepEqual(issuesOf(longTitle.text), ["Title: Too big: expected string to have <=200 characters"]);
    const { _csrf } = await client.formOf("/admin/incidents/new");
    const huge = await client.post("/admin/incidents", { _csrf, title: "x", status: "investigating", message: MIB.repeat(3) });
    assert.equal(huge.status, 413);
    assert.match(huge.text, /The form is larger than 2 MiB, so nothing was read or saved/);
    assert.equal((await incidents()).length, before);
  });

  it("the composer names hostile values in its choices, echoes typed text escaped, and stores nothing", async () => {
    const before = (await incidents()).length;
    const answer = await compose({ title: SCRIPT, status: SCRIPT, message: IMG, "component.chat": IMG, "component.qa": "none", notify: SCRIPT });
    assert.equal(answer.status, 400);
    assert.deepEqual(issuesOf(answer.text), [
      'Notify subscribers: expected the checkbox ("on") or nothing, got "<script>alert(1)</script>"',
      'Status: choose one of investigating, identified, monitoring, resolved, not "<script>alert(1)</script>"',
      'Chat: choose "not affected" or a status (operational, under_maintenance, degraded_performance, partial_outage, major_outage), not "<img src=x onerror=\\"alert(2)\\">"',
    ]);
    assertNoRawMarkup(answer.text);
    assert.ok(answer.text.includes('value="&lt;script&gt;alert(1)&lt;/script&gt;"'), "the title is echoed, escaped");
    const textarea = /<textarea id="compose-message"[^>]*>([^<]*)<\/textarea>/.exec(answer.text)?.[1];
    assert.equal(decodeEntities(textarea ?? ""), IMG, "the message is echoed, escaped");
    const twice = await compose({ title: ["One", "Two"] });
    assert.equal(twice.status, 400);
    assert.deepEqual(issuesOf(twice.text), ["Title: sent more than once; send it once"]);
    assert.equal((await incidents()).length, before);
  });

  it("text with markup is kept as the text it is (as the admin API keeps it) and shown escaped everywhere", async () => {
    const answer = await compose({ title: `Chat ${SCRIPT}`, message: `Late ${IMG}` });
    assert.equal(answer.status, 303);
    const stored = (await incidents()).find((i) => i.name === `Chat ${SCRIPT}`)!;
    assert.equal(stored.updates[0]!.body, `Late ${IMG}`);
    for (const pathname of ["/admin/incidents", `/admin/incidents/${stored.id}`]) {
      const page = await client.get(pathname);
      assert.equal(page.status, 200);
      assertNoRawMarkup(page.text);
      assert.ok(page.text.includes("Chat &lt;script&gt;alert(1)&lt;/script&gt;"), `${pathname} shows the title as text`);
    }
    await rig.snapshot.refresh();
    const publicPage = await client.get(`/incidents/${stored.id}`);
    assert.equal(publicPage.status, 200);
    assertNoRawMarkup(publicPage.text);
  });

  it("the update form names missing, oversized and hostile values, and leaves the incident as it was", async () => {
    const before = await rig.status.store.incident(incident.id);
    const cases: [Record<string, string | string[]>, string[]][] = [
      [{ message: " ", status: "" }, ["Status: choose one of investigating, identified, monitoring, resolved", "Message: say what is happening (customers read it)"]],
      [{ message: MIB }, ["Message: Too big: expected string to have <=20000 characters"]],
      [{ status: SCRIPT }, ['Status: choose one of investigating, identified, monitoring, resolved, not "<script>alert(1)</script>"']],
      [{ "component.chat": "none" }, ["Chat: choose its status (operational, under_maintenance, degraded_performance, partial_outage, major_outage), not \"none\""]],
      [{ "component.qa": SCRIPT }, ['Q&A: choose "not affected" or a status (operational, under_maintenance, degraded_performance, partial_outage, major_outage), not "<script>alert(1)</script>"']],
    ];
    for (const [fields, expected] of cases) {
      const answer = await onIncident("updates", fields);
      assert.equal(answer.status, 400, JSON.stringify(Object.keys(fields)));
      assert.deepEqual(issuesOf(answer.text), expected);
      assertNoRawMarkup(answer.text);
    }
    assert.deepEqual(await rig.status.store.incident(incident.id), before);
  });

  it("the resolve form names an oversized message and a hostile checkbox, and leaves the incident open", async () => {
    const before = await rig.status.store.incident(incident.id);
    const long = await onIncident("resolve", { message: MIB });
    assert.equal(long.status, 400);
    assert.deepEqual(issuesOf(long.text), ["Message: Too big: expected string to have <=20000 characters"]);
    const hostile = await onIncident("resolve", { message: SCRIPT, notify: IMG });
    assert.equal(hostile.status, 400);
    assert.deepEqual(issuesOf(hostile.text), ['Notify subscribers: expected the checkbox ("on") or nothing, got "<img src=x onerror=\\"alert(2)\\">"']);
    assertNoRawMarkup(hostile.text);
    assert.deepEqual(await rig.status.store.incident(incident.id), before);
    const unknown = await client.post(`/admin/incidents/${encodeURIComponent(SCRIPT)}/resolve`, { _csrf: (await client.formOf("/admin/incidents"))._csrf, message: "x", notify: "on" });
    assert.equal(unknown.status, 404);
    assertNoRawMarkup(unknown.text);
    assert.match(unknown.text, /There is no such incident/);
  });

  it("the sign-in form names a missing, oversized or hostile token without echoing it", async () => {
    const visitor = new ConsoleClient(client.base);
    const missing = await visitor.signInAnswer("");
    assert.equal(missing.status, 400);
    assert.deepEqual(issuesOf(missing.text), ["Token: enter an admin token"]);
    const huge = await visitor.signInAnswer(MIB);
    assert.equal(huge.status, 413);
    assert.deepEqual(issuesOf(huge.text), ["Token: far too long (the sign-in form takes at most 8 KiB); paste the token alone"]);
    const hostile = await visitor.signInAnswer(SCRIPT);
    assert.equal(hostile.status, 401);
    assert.deepEqual(issuesOf(hostile.text), ["Token: not a valid admin token (unknown, revoked or mistyped)"]);
    assertNoRawMarkup(hostile.text);
    assert.ok(!hostile.text.includes("alert(1)"), "the token is never echoed");
    assert.equal(visitor.jar.has("pb_console"), false);
  });
});
