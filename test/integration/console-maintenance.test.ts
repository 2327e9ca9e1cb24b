import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { AuditEntry } from "../../src/auth/index.ts";
import { advanceMaintenances, openIncident, resolveIncident, type Maintenance } from "../../src/status/index.ts";
import { ConsoleClient, csrfOf, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * The console's maintenance pages (list, schedule, edit, cancel) and the
 * postmortem form, driven like a browser without JavaScript over real HTTP
 * against a real redis-server, plus the admin API's edit verb (PATCH).
 */

const TOKEN = "console-maintenance-bootstrap-token-0123456789";
const MIB = "m".repeat(1024 * 1024);
const SCRIPT = "<script>alert(1)</script>";
const IMG = '<img src=x onerror="alert(2)">';
const HOUR = 3_600_000;

/** A datetime-local value (UTC) `ms` from now, to the minute. */
function localIn(ms: number): string {
  return new Date(Date.now() + ms).toISOString().slice(0, 16);
}

function assertNoRawMarkup(html: string): void {
  assert.ok(!html.includes("<script>alert"), "no <script> tag a person typed");
  assert.ok(!html.includes("<img src=x"), "no <img> tag a person typed");
}

describe("console maintenance and postmortems (real redis-server, real HTTP)", { timeout: 90_000 }, () => {
  let rig: WebRig;
  let server: http.Server;
  let base: string;
  let admin: ConsoleClient;
  let reader: ConsoleClient;
  let readToken: string;

  const api = async (method: string, pathname: string, body?: unknown, token = TOKEN) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const windows = async (): Promise<Maintenance[]> => rig.status.store.recentMaintenances(500);
  const audit = async (): Promise<AuditEntry[]> => (await api("GET", "/audit?limit=200")).body.entries;
  const schedule = async (fields: Record<string, string | string[]> = {}, client = admin) => {
    const { _csrf, key } = await client.formOf("/admin/maintenance/new");
    return client.post("/admin/maintenances", { _csrf, key, name: "Cache upgrade", components: ["chat"], starts: localIn(2 * HOUR), ends: localIn(3 * HOUR), message: "Chat may reconnect once.", ...fields });
  };
  const scheduled = async (fields: Record<string, string | string[]> = {}): Promise<Maintenance> => {
    const answer = await schedule(fields);
    assert.equal(answer.status, 303, answer.text);
    const id = /^\/admin\/maintenance\/([\w-]+)\?done=scheduled$/.exec(answer.location ?? "")?.[1];
    assert.ok(id, `redirected to the new window, got ${answer.location}`);
    return (await rig.status.store.maintenance(id))!;
  };
  const edit = async (m: Maintenance, fields: Record<string, string | string[]>, client = admin) => {
    const { _csrf } = await client.formOf(`/admin/maintenance/${m.id}`);
    return client.post(`/admin/maintenances/${m.id}`, { _csrf, name: m.name, components: m.components, starts: m.scheduled_for.slice(0, 16), ends: m.scheduled_until.slice(0, 16), message: m.updates.at(-1)!.body, ...fields });
  };

  before(async () => {
    rig = await startWebRig(`
page: { name: Maintenance, url: "http://127.0.0.1:1", time_zone: UTC }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
`, { tokens: [TOKEN] });
    server = http.createServer(rig.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = new ConsoleClient(base);
    await admin.signIn(TOKEN);
    readToken = (await api("POST", "/tokens", { name: "viewer", scopes: ["read"] })).body.token;
    reader = new ConsoleClient(base);
    await reader.signIn(readToken);
  });

  after(async () => {
    server?.close();
    await rig?.stop();
  });

  it("schedules a window from the form (times read as UTC), once per form, audited and credited, and lists it under Scheduled", async () => {
    const starts = localIn(2 * HOUR);
    const ends = localIn(4 * HOUR);
    const { _csrf, key } = await admin.formOf("/admin/maintenance/new");
    const fields = { _csrf, key, name: "Redis upgrade", components: ["chat", "qa"], starts, ends, message: "Chat and Q&A may pause for a minute." };
    const first = await admin.post("/admin/maintenances", fields);
    assert.equal(first.status, 303, first.text);
    const again = await admin.post("/admin/maintenances", fields);
    assert.equal(again.location, first.location, "the same form sent twice schedules one window");
    const mine = (await windows()).filter((m) => m.name === "Redis upgrade");
    assert.equal(mine.length, 1);
    const m = mine[0]!;
    assert.deepEqual([m.status, m.components, m.scheduled_for, m.scheduled_until, m.source], ["scheduled", ["chat", "qa"], `${starts}:00.000Z`, `${ends}:00.000Z`, "admin"]);
    assert.deepEqual(m.updates.map((u) => [u.body, u.author.name]), [["Chat and Q&A may pause for a minute.", "admin"]]);
    assert.ok((await audit()).some((e) => e.method === "POST" && e.path === "/admin/maintenances" && e.status === 303), "written to the audit log with the console's path");

    const page = await admin.get(first.location!);
    assert.equal(page.status, 200);
    assert.match(page.text, /Maintenance scheduled\./);
    const list = await admin.get("/admin/maintenance");
    assert.equal(list.status, 200);
    const scheduledPart = list.text.split('id="scheduled-heading"')[1]!.split('id="completed-heading"')[0]!;
    assert.ok(scheduledPart.includes(`data-maintenance="${m.id}"`), "listed under Scheduled");
    assert.match(scheduledPart, /Chat, Q&amp;A/);
    assert.match(scheduledPart, new RegExp(`datetime="${m.scheduled_for}">[^<]+UTC<`), "times in UTC");
  });

  it("names each missing or wrong field and stores nothing", async () => {
    const before = (await windows()).length;
    const empty = await schedule({ name: " ", components: [], starts: "", ends: "", message: "" });
    assert.equal(empty.status, 400);
    assert.deepEqual(issuesOf(empty.text), [
      "Name: give the window a name",
      "Components: tick at least one component the window affects",
      "Starts (UTC): enter a date and time in UTC, like 2026-12-04 02:00",
      "Ends (UTC): enter a date and time in UTC, like 2026-12-04 02:00",
      "Message: say what will happen and what customers may notice",
    ]);
    const wrong = await schedule({ components: ["chat", "nope<b>"], starts: "tomorrow", ends: localIn(HOUR) });
    assert.equal(wrong.status, 400);
    assert.deepEqual(issuesOf(wrong.text), ['Components: "nope<b>" is not a configured component', 'Starts (UTC): "tomorrow" is not a date and time; enter one in UTC, like 2026-12-04 02:00']);
    assert.ok(!wrong.text.includes("nope<b>"), "the unknown value is escaped");
    const backwards = await schedule({ starts: localIn(3 * HOUR), ends: localIn(2 * HOUR) });
    assert.deepEqual(issuesOf(backwards.text), ["Ends (UTC): must be after Starts (UTC)"]);
    const past = await schedule({ starts: localIn(-3 * HOUR), ends: localIn(-2 * HOUR) });
    assert.deepEqual(issuesOf(past.text), ["Ends (UTC): is already past; a window must end in the future"]);
    const twice = await schedule({ name: ["a", "b"] });
    assert.deepEqual(issuesOf(twice.text), ["Name: sent more than once; send it once"]);
    assert.equal((await windows()).length, before);
  });

  it("names a 1 MiB field and stores nothing; hostile text is stored as typed and always shown escaped", async () => {
    const before = (await windows()).length;
    const longName = await schedule({ name: MIB });
    assert.equal(longName.status, 400);
    assert.deepEqual(issuesOf(longName.text), ["Name: Too big: expected string to have <=200 characters"]);
    const longMessage = await schedule({ message: MIB });
    assert.deepEqual(issuesOf(longMessage.text), ["Message: Too big: expected string to have <=20000 characters"]);
    assert.equal((await windows()).length, before);

    const m = await scheduled({ name: `Upgrade ${SCRIPT}`, message: `Expect ${IMG} blips.` });
    assert.equal(m.name, `Upgrade ${SCRIPT}`);
    for (const path of ["/admin/maintenance", `/admin/maintenance/${m.id}`, `/admin/maintenance/${m.id}/cancel`]) {
      const page = await admin.get(path);
      assert.equal(page.status, 200);
      assertNoRawMarkup(page.text);
      assert.ok(decodeEntities(page.text).includes(`Upgrade ${SCRIPT}`), `${path} shows the name as typed`);
    }
    await rig.snapshot.refresh();
    const publicPage = await fetch(`${base}/`).then((r) => r.text());
    assertNoRawMarkup(publicPage);
  });

  it("edits a scheduled window: name, components, times and a new message entry; the public API shows the change", async () => {
    const m = await scheduled();
    const starts = localIn(5 * HOUR);
    const ends = localIn(6 * HOUR);
    const answer = await edit(m, { name: "Cache upgrade (moved)", components: ["qa"], starts, ends, message: "Moved to later: only Q&A is affected." });
    assert.equal(answer.status, 303, answer.text);
    assert.equal(answer.location, `/admin/maintenance/${m.id}?done=saved`);
    const edited = (await rig.status.store.maintenance(m.id))!;
    assert.deepEqual([edited.name, edited.components, edited.scheduled_for, edited.scheduled_until, edited.status], ["Cache upgrade (moved)", ["qa"], `${starts}:00.000Z`, `${ends}:00.000Z`, "scheduled"]);
    assert.deepEqual(edited.updates.map((u) => u.body), ["Chat may reconnect once.", "Moved to later: only Q&A is affected."]);
    assert.ok((await audit()).some((e) => e.method === "POST" && e.path === `/admin/maintenances/${m.id}` && e.status === 303));

    const unchanged = await edit(edited, { name: "Cache upgrade (moved again)" });
    assert.equal(unchanged.status, 303);
    assert.equal((await rig.status.store.maintenance(m.id))!.updates.length, 2, "the same message adds no timeline entry");

    await rig.snapshot.refresh();
    const upcoming = (await fetch(`${base}/api/v2/scheduled-maintenances/upcoming.json`).then((r) => r.json())) as { scheduled_maintenances: { id: string; name: string; scheduled_for: string }[] };
    const shown = upcoming.scheduled_maintenances.find((x) => x.id === m.id);
    assert.equal(shown?.name, "Cache upgrade (moved again)");
    assert.equal(Date.parse(shown!.scheduled_for), Date.parse(`${starts}:00Z`));

    const bad = await edit(edited, { name: "", ends: localIn(4 * HOUR) });
    assert.equal(bad.status, 400);
    assert.deepEqual(issuesOf(bad.text), ["Name: give the window a name", "Ends (UTC): must be after Starts (UTC)"]);
    assert.equal((await rig.status.store.maintenance(m.id))!.name, "Cache upgrade (moved again)", "nothing stored");
  });

  it("a window that has started cannot be edited (409, nothing changed), only cancelled; its page offers no edit form", async () => {
    const m = await scheduled();
    const form = await admin.formOf(`/admin/maintenance/${m.id}`);
    await advanceMaintenances(rig.status, Date.parse(m.scheduled_for) + 1_000);
    const started = (await rig.status.store.maintenance(m.id))!;
    assert.equal(started.status, "in_progress");
    const answer = await admin.post(`/admin/maintenances/${m.id}`, { _csrf: form._csrf, name: "Too late", components: ["chat"], starts: localIn(HOUR), ends: localIn(5 * HOUR), message: "x" });
    assert.equal(answer.status, 409);
    assert.match(decodeEntities(answer.text), /is in progress; only a scheduled window can be edited/);
    assert.equal((await rig.status.store.maintenance(m.id))!.revision, started.revision);
    const page = await admin.get(`/admin/maintenance/${m.id}`);
    assert.ok(!page.text.includes('class="panel form maintenance-form"'), "no edit form");
    assert.match(page.text, /Cancel this window…/);
    const list = await admin.get("/admin/maintenance");
    assert.ok(list.text.split('id="in-progress-heading"')[1]!.split('id="scheduled-heading"')[0]!.includes(`data-maintenance="${m.id}"`), "listed under In progress");
  });

  it("cancels only from the confirmation page, with the message given; it is then listed as Cancelled under Completed", async () => {
    const m = await scheduled({ name: "Doomed window" });
    const confirm = await admin.get(`/admin/maintenance/${m.id}/cancel`);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /Cancel Doomed window\?/);
    assert.match(confirm.text, /<label for="cancel-message">Message<\/label>/);
    const _csrf = csrfOf(confirm.text);

    const unconfirmed = await admin.post(`/admin/maintenances/${m.id}/cancel`, { _csrf });
    assert.equal(unconfirmed.status, 400);
    assert.equal((await rig.status.store.maintenance(m.id))!.status, "scheduled", "nothing changed without the confirmation");
    const huge = await admin.post(`/admin/maintenances/${m.id}/cancel`, { _csrf, confirm: "yes", message: MIB });
    assert.equal(huge.status, 400);
    assert.deepEqual(issuesOf(huge.text), ["Message: at most 20,000 characters (got 1,048,576)"]);
    assert.equal((await rig.status.store.maintenance(m.id))!.status, "scheduled");

    const done = await admin.post(`/admin/maintenances/${m.id}/cancel`, { _csrf, confirm: "yes", message: `Not needed after all ${SCRIPT}` });
    assert.equal(done.status, 303, done.text);
    const cancelled = (await rig.status.store.maintenance(m.id))!;
    assert.equal(cancelled.status, "completed");
    assert.equal(cancelled.updates.at(-1)!.body, `Not needed after all ${SCRIPT}`);
    const list = await admin.get("/admin/maintenance");
    assertNoRawMarkup(list.text);
    const row = list.text.split(`data-maintenance="${m.id}"`)[1]!.split("</li>")[0]!;
    assert.ok(list.text.split('id="completed-heading"')[1]!.includes(`data-maintenance="${m.id}"`), "listed under Completed");
    assert.match(row, /<strong>Cancelled<\/strong>/);
    const again = await admin.post(`/admin/maintenances/${m.id}/cancel`, { _csrf, confirm: "yes" });
    assert.equal(again.status, 409);
  });

  it("a read token sees the controls disabled and every write refused (403), nothing stored; a POST without CSRF is 403", async () => {
    const m = await scheduled({ name: "Read-only check" });
    const list = await reader.get("/admin/maintenance");
    assert.equal(list.status, 200);
    assert.match(list.text, /Your token can read but not change maintenance/);
    const page = await reader.get(`/admin/maintenance/${m.id}`);
    assert.match(page.text, /<fieldset class="controls" disabled>/);
    const before = (await windows()).length;
    const created = await schedule({ name: "Sneaky" }, reader);
    assert.equal(created.status, 403);
    const edited = await edit(m, { name: "Sneaky" }, reader);
    assert.equal(edited.status, 403);
    const _csrf = csrfOf((await reader.get(`/admin/maintenance/${m.id}/cancel`)).text);
    const cancelled = await reader.post(`/admin/maintenances/${m.id}/cancel`, { _csrf, confirm: "yes" });
    assert.equal(cancelled.status, 403);
    assert.equal((await windows()).length, before);
    assert.deepEqual([(await rig.status.store.maintenance(m.id))!.name, (await rig.status.store.maintenance(m.id))!.status], ["Read-only check", "scheduled"]);
    const forged = await admin.post(`/admin/maintenances/${m.id}/cancel`, { confirm: "yes" });
    assert.equal(forged.status, 403);
    assert.equal((await rig.status.store.maintenance(m.id))!.status, "scheduled");
  });

  it("PATCH /admin/api/maintenances/:id edits a scheduled window (audited, scope incidents) and names bad fields", async () => {
    const created = await api("POST", "/maintenances", { name: "API window", components: ["chat"], scheduled_for: new Date(Date.now() + 2 * HOUR).toISOString(), scheduled_until: new Date(Date.now() + 3 * HOUR).toISOString(), body: "Planned." });
    assert.equal(created.status, 201);
    const id = created.body.maintenance.id as string;
    const patched = await api("PATCH", `/maintenances/${id}`, { name: "API window, renamed", body: "Planned, renamed." });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.maintenance.name, "API window, renamed");
    assert.deepEqual(patched.body.maintenance.updates.map((u: { body: string }) => u.body), ["Planned.", "Planned, renamed."]);
    assert.ok((await audit()).some((e) => e.method === "PATCH" && e.path === `/admin/api/maintenances/${id}` && e.status === 200));

    const forbidden = await api("PATCH", `/maintenances/${id}`, { name: "x" }, readToken);
    assert.equal(forbidden.status, 403);
    const bad = await api("PATCH", `/maintenances/${id}`, { scheduled_until: "soon", components: ["nope"], colour: "red" });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.issues.some((i: string) => i.startsWith("scheduled_until: expected an ISO 8601 time")), JSON.stringify(bad.body.issues));
    assert.ok(bad.body.issues.some((i: string) => i.includes("colour")), "an unknown field is named");
    const backwards = await api("PATCH", `/maintenances/${id}`, { scheduled_until: new Date(Date.now() + HOUR).toISOString() });
    assert.deepEqual(backwards.body.issues, ["scheduled_until: must be after scheduled_for"]);
    const missing = await api("PATCH", "/maintenances/no-such-window", { name: "x" });
    assert.equal(missing.status, 400);
    assert.equal((await rig.status.store.maintenance(id))!.name, "API window, renamed", "nothing stored by refused edits");

    await advanceMaintenances(rig.status, Date.now() + 2 * HOUR + 1_000);
    const late = await api("PATCH", `/maintenances/${id}`, { name: "Too late" });
    assert.equal(late.status, 409);
  });

  it("the form has a labelled reminder field (60 by default) and an announce box (ticked); both are saved, shown and edited", async () => {
    const { html } = await admin.formOf("/admin/maintenance/new");
    assert.match(html, /<label for="create-remind">Remind subscribers \(minutes before\)<\/label>/);
    assert.match(html, /<input id="create-remind" name="remind_before_minutes" type="number" min="0" max="10080"[^>]* value="60"/);
    assert.match(html, /<input type="hidden" name="notify" value="off">\s*<input id="create-notify" name="notify" type="checkbox" value="on" checked/);
    assert.match(html, /<label for="create-notify">Announce the start and the completion<\/label>/);

    const quiet = await scheduled({ name: "Quiet window", remind_before_minutes: "15", notify: "off" });
    assert.deepEqual([quiet.remind_before_minutes, quiet.notify], [15, false]);
    const page = await admin.get(`/admin/maintenance/${quiet.id}`);
    assert.match(page.text, /<dt>Reminder<\/dt><dd>15 minutes before the start<\/dd>/);
    assert.match(page.text, /<dt>Notifications<\/dt><dd>Start and completion not announced<\/dd>/);
    assert.match(page.text, /<input id="edit-remind" name="remind_before_minutes"[^>]* value="15"/, "the edit form holds the saved value");
    assert.ok(!/id="edit-notify"[^>]* checked/.test(page.text), "the announce box is not ticked");

    const loud = await scheduled({ name: "Loud window", notify: ["off", "on"] });
    assert.deepEqual([loud.remind_before_minutes, loud.notify], [60, true], "ticked, and the default reminder");
    const edited = await edit(loud, { remind_before_minutes: "0", notify: "off" });
    assert.equal(edited.status, 303, edited.text);
    const stored = (await rig.status.store.maintenance(loud.id))!;
    assert.deepEqual([stored.remind_before_minutes, stored.notify], [0, false]);
    assert.match((await admin.get(`/admin/maintenance/${loud.id}`)).text, /<dt>Reminder<\/dt><dd>None<\/dd>/);
  });

  it("names a reminder that is not a number of minutes, negative or longer than 7 days, and stores nothing; the API takes and checks remind_before_minutes and notify", async () => {
    const before = (await windows()).length;
    const range = "a number from 0 (no reminder) to 10080 (7 days)";
    for (const [typed, problem] of [
      ["soon", `Remind subscribers (minutes before): "soon" is not a number of minutes; enter ${range}`],
      ["-5", `Remind subscribers (minutes before): must not be negative; enter ${range}`],
      ["10081", `Remind subscribers (minutes before): at most 10080 (7 days); enter ${range}`],
      ["", `Remind subscribers (minutes before): enter ${range}`],
    ] as const) {
      const answer = await schedule({ remind_before_minutes: typed });
      assert.equal(answer.status, 400, typed);
      assert.deepEqual(issuesOf(answer.text), [problem]);
      assert.match(answer.text, new RegExp(`name="remind_before_minutes"[^>]* value="${typed}"`), "what was typed is shown again");
    }
    const m = await scheduled({ name: "Reminder edits" });
    const bad = await edit(m, { remind_before_minutes: "-1" });
    assert.equal(bad.status, 400);
    assert.deepEqual(issuesOf(bad.text), [`Remind subscribers (minutes before): must not be negative; enter ${range}`]);
    assert.equal((await windows()).length, before + 1);

    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const plain = await api("POST", "/maintenances", { name: "API defaults", components: ["chat"], scheduled_for: at(2 * HOUR), scheduled_until: at(3 * HOUR), body: "Planned." });
    assert.equal(plain.status, 201);
    assert.deepEqual([plain.body.maintenance.remind_before_minutes, plain.body.maintenance.notify], [60, true]);
    const chosen = await api("POST", "/maintenances", { name: "API chosen", components: ["chat"], scheduled_for: at(2 * HOUR), scheduled_until: at(3 * HOUR), body: "Planned.", remind_before_minutes: 30, notify: false });
    assert.deepEqual([chosen.body.maintenance.remind_before_minutes, chosen.body.maintenance.notify], [30, false]);
    const refused = await api("POST", "/maintenances", { name: "API wrong", components: ["chat"], scheduled_for: at(2 * HOUR), scheduled_until: at(3 * HOUR), body: "Planned.", remind_before_minutes: "60", notify: "yes" });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.issues, [
      "remind_before_minutes: expected a number of minutes from 0 (no reminder) to 10080 (7 days)",
      "notify: expected true (announce the start and the completion) or false",
    ]);
    for (const [value, issue] of [
      [-1, "remind_before_minutes: must not be negative; expected a number of minutes from 0 (no reminder) to 10080 (7 days)"],
      [10_081, "remind_before_minutes: must be at most 10080 (7 days); expected a number of minutes from 0 (no reminder) to 10080 (7 days)"],
    ] as const) {
      const patched = await api("PATCH", `/maintenances/${chosen.body.maintenance.id}`, { remind_before_minutes: value });
      assert.equal(patched.status, 400);
      assert.deepEqual(patched.body.issues, [issue]);
    }
    const patched = await api("PATCH", `/maintenances/${chosen.body.maintenance.id}`, { remind_before_minutes: 5, notify: true });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual([patched.body.maintenance.remind_before_minutes, patched.body.maintenance.notify], [5, true]);
  });

  it("a resolved incident's page has the postmortem form; saving replaces it, the public page shows it escaped", async () => {
    const { incident } = await openIncident(rig.status, { name: "Chat outage", status: "investigating", body: "Chat is down.", components: { chat: "major_outage" }, author: { kind: "person", name: "alice" } });
    const open = await admin.get(`/admin/incidents/${incident.id}`);
    assert.ok(!open.text.includes('id="postmortem-text"'), "no postmortem form while the incident is open");
    assert.equal((await admin.get(`/admin/incidents/${incident.id}/postmortem`)).status, 409);
    await resolveIncident(rig.status, { id: incident.id, author: { kind: "person", name: "alice" } });

    const page = await admin.get(`/admin/incidents/${incident.id}`);
    assert.match(page.text, /<label for="postmortem-text">Postmortem<\/label>/);
    assert.match(page.text, /Write the postmortem/);
    const _csrf = csrfOf(page.text);
    const first = await admin.post(`/admin/incidents/${incident.id}/postmortem`, { _csrf, postmortem: `What happened: ${SCRIPT}\nWhy: ${IMG}` });
    assert.equal(first.status, 303, first.text);
    assert.equal(first.location, `/admin/incidents/${incident.id}?done=postmortem`);
    let stored = (await rig.status.store.incident(incident.id))!;
    assert.deepEqual([stored.status, stored.postmortem], ["postmortem", `What happened: ${SCRIPT}\nWhy: ${IMG}`]);
    assert.ok((await audit()).some((e) => e.method === "POST" && e.path === `/admin/incidents/${incident.id}/postmortem` && e.status === 303));

    const after = await admin.get(first.location!);
    assert.match(after.text, /Postmortem saved/);
    assert.match(after.text, /Edit the postmortem/);
    assertNoRawMarkup(after.text);
    assert.ok(decodeEntities(after.text).includes(`What happened: ${SCRIPT}`), "the form holds the text to edit");
    await rig.snapshot.refresh();
    let publicPage = await fetch(`${base}/incidents/${incident.id}`).then((r) => r.text());
    assertNoRawMarkup(publicPage);
    assert.ok(publicPage.includes("What happened: &lt;script&gt;alert(1)&lt;/script&gt;"), "the public page shows it, escaped");

    const second = await admin.post(`/admin/incidents/${incident.id}/postmortem`, { _csrf, postmortem: "Root cause: a stuck safeguard. Fixed by a monitor." });
    assert.equal(second.status, 303);
    stored = (await rig.status.store.incident(incident.id))!;
    assert.equal(stored.postmortem, "Root cause: a stuck safeguard. Fixed by a monitor.");
    await rig.snapshot.refresh();
    publicPage = await fetch(`${base}/incidents/${incident.id}`).then((r) => r.text());
    assert.ok(publicPage.includes("Root cause: a stuck safeguard."), "the new text replaced the old one");
    assert.ok(!publicPage.includes("What happened"), "the old text is gone");
  });

  it("the postmortem form names an empty or 1 MiB text and keeps the old one; a read token is refused", async () => {
    const { incident } = await openIncident(rig.status, { name: "Q&A slow", status: "investigating", body: "Slow.", components: { qa: "degraded_performance" }, author: { kind: "person", name: "alice" } });
    await resolveIncident(rig.status, { id: incident.id, author: { kind: "person", name: "alice" } });
    const _csrf = csrfOf((await admin.get(`/admin/incidents/${incident.id}`)).text);
    assert.equal((await admin.post(`/admin/incidents/${incident.id}/postmortem`, { _csrf, postmortem: "Kept." })).status, 303);
    const empty = await admin.post(`/admin/incidents/${incident.id}/postmortem`, { _csrf, postmortem: "   " });
    assert.equal(empty.status, 400);
    assert.deepEqual(issuesOf(empty.text), ["Postmortem: write what happened, why, and what will change"]);
    const huge = await admin.post(`/admin/incidents/${incident.id}/postmortem`, { _csrf, postmortem: MIB });
    assert.equal(huge.status, 400);
    assert.deepEqual(issuesOf(huge.text), ["Postmortem: Too big: expected string to have <=100000 characters"]);
    assert.ok(huge.text.length < 100_000, "the 1 MiB text is not pasted back");
    const readerCsrf = csrfOf((await reader.get(`/admin/incidents/${incident.id}`)).text);
    const refused = await reader.post(`/admin/incidents/${incident.id}/postmortem`, { _csrf: readerCsrf, postmortem: "Not mine." });
    assert.equal(refused.status, 403);
    assert.equal((await rig.status.store.incident(incident.id))!.postmortem, "Kept.");
  });
});
