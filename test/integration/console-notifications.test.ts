import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChannelView, DeadLetter } from "../../src/pipeline/index.ts";
import { ConsoleClient, csrfOf, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startOpsRig, type OpsRig } from "../helpers/console-ops.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The console's notifications and subscribers pages on real parts: the
 * web app over real HTTP, the notify worker posting to real HTTP receivers,
 * subscribers made through the public subscribe-and-confirm flow, all on a
 * real redis-server.
 */

const SCRIPT = "<script>alert(1)</script>";

/** No markup anyone typed made it into the page as markup. */
function assertNoRawMarkup(html: string): void {
  assert.ok(!html.includes("<script>"), "no <script> tag on the page");
  assert.ok(!html.includes("<img src=x"), "no <img> tag on the page");
}

interface OnCallPost {
  type: string;
  data: { incident: { id: string; name: string } };
}

describe("console notifications and subscribers (real redis-server, real receivers, real HTTP)", { timeout: 90_000 }, () => {
  let rig: OpsRig;
  let admin: ConsoleClient;

  const postsFor = (incident: string, receiver = rig.oncall) => receiver.requests.filter((r) => (r.json as OnCallPost | undefined)?.data?.incident?.id === incident);
  const open = async (name: string): Promise<string> => {
    const opened = await rig.api("POST", "/incidents", { name, body: "Messages are late.", components: { chat: "degraded_performance" } });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    return (opened.body.incident as { id: string }).id;
  };
  const deadLetters = async () => (await rig.api("GET", "/notifications/dead")).body.dead as DeadLetter[];
  const tokenFor = async (name: string, scopes: string[]) => ((await rig.api("POST", "/tokens", { name, scopes })).body as { token: string }).token;
  const signedIn = async (token: string) => {
    const client = new ConsoleClient(rig.base);
    await client.signIn(token);
    return client;
  };

  before(async () => {
    rig = await startOpsRig();
    admin = await signedIn(rig.token);
  });

  after(async () => {
    await rig?.stop();
  });

  it("the admin API and the console list each channel with its last delivery (when, which post, which incident), never its settings", async () => {
    const before = (await rig.api("GET", "/notifications/channels")).body.channels as ChannelView[];
    assert.deepEqual(before.map((c) => [c.id, c.kind, c.disabled, c.last_delivery]), [["oncall", "webhook", false, null], ["pager", "webhook", false, null]]);
    const startedAt = new Date().toISOString();
    const id = await open("Chat messages delayed");
    const post = await waitFor("the opening at the on-call receiver", () => postsFor(id)[0], 10_000, 25);
    await waitFor("the opening at the pager receiver", () => postsFor(id, rig.pager)[0], 10_000, 25);
    const channels = await waitFor("both channels' last delivery", async () => {
      const listed = (await rig.api("GET", "/notifications/channels")).body.channels as ChannelView[];
      return listed.every((c) => c.last_delivery?.incident?.id === id) && listed;
    }, 10_000, 25);
    const oncall = channels.find((c) => c.id === "oncall")!;
    assert.equal(oncall.last_delivery!.type, "incident.opened");
    assert.equal(oncall.last_delivery!.event, post.headers["webhook-id"], "the post's id, as the receiver saw it");
    assert.deepEqual(oncall.last_delivery!.incident, { id, name: "Chat messages delayed" });
    assert.ok(oncall.last_delivery!.at >= startedAt && oncall.last_delivery!.at <= new Date().toISOString(), oncall.last_delivery!.at);
    assert.ok(!JSON.stringify(channels).includes(String(rig.oncall.port)), "no receiver address in the answer");

    const page = await admin.get("/admin/notifications");
    assert.equal(page.status, 200);
    const row = /<tr><th scope="row">oncall<\/th>([\s\S]*?)<\/tr>/.exec(page.text)?.[1] ?? "";
    assert.match(row, /<td data-label="Kind">webhook<\/td>/);
    assert.match(row, /Delivering/);
    assert.match(row, new RegExp(`<time datetime="${oncall.last_delivery!.at}">`));
    assert.match(row, new RegExp(`Incident opened: <a href="/admin/incidents/${id}">Chat messages delayed</a>`));
    const table = /<section aria-labelledby="channels-heading">([\s\S]*?)<\/section>/.exec(page.text)?.[1] ?? "";
    assert.ok(table.includes("oncall") && !table.includes(String(rig.oncall.port)), "the channels show no receiver address (their settings stay in pulseboard.yaml)");
  });

  it("a dead letter replayed from the console, after its confirmation page, is delivered once to the real receiver", async () => {
    rig.oncall.answer({ status: 400, body: "bad payload" });
    const id = await open("Replay me");
    const letter = await waitFor("the refused post in the dead-letter list", async () => (await deadLetters()).find((d) => d.channel === "oncall" && "incident" in d.job.event && d.job.event.incident.id === id), 10_000, 25);
    await rig.notifyIdle();
    assert.equal(postsFor(id).length, 1, "the receiver refused it once");

    const list = await admin.get("/admin/notifications");
    assert.match(list.text, new RegExp(`<a class="button ops-button-small" href="/admin/notifications/dead/${letter.id}/replay"[^>]*>Replay…</a>`));
    assert.match(decodeEntities(list.text), /answered HTTP 400/);
    const confirm = await admin.get(`/admin/notifications/dead/${letter.id}/replay`);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /<h1 id="confirm-heading">Replay a post\?<\/h1>/);
    assert.match(confirm.text, /<dd>oncall<\/dd>/);
    assert.match(confirm.text, /<dd>Incident opened: Replay me<\/dd>/);
    assert.match(confirm.text, new RegExp(`<form method="post" action="/admin/notifications/dead/${letter.id}/replay"`));
    assert.ok((await deadLetters()).some((d) => d.id === letter.id), "the confirmation page alone replays nothing");
    assert.equal(postsFor(id).length, 1);

    const form = { _csrf: csrfOf(confirm.text) };
    const replayed = await admin.post(`/admin/notifications/dead/${letter.id}/replay`, form);
    assert.equal(replayed.status, 303, replayed.text);
    assert.equal(replayed.location, "/admin/notifications?done=replayed");
    // The same form sent again (a double click, a reload) finds nothing left to replay.
    const again = await admin.post(`/admin/notifications/dead/${letter.id}/replay`, form);
    assert.equal(again.status, 404);
    assert.match(again.text, /There is no such dead letter: it was replayed already/);

    await waitFor("the replayed post at the receiver", () => postsFor(id).length >= 2, 10_000, 25);
    await rig.notifyIdle();
    const posts = postsFor(id);
    assert.equal(posts.length, 2, "refused once, then delivered once: nothing more");
    assert.equal(posts[1]!.headers["webhook-id"], posts[0]!.headers["webhook-id"], "the same post, with its id");
    assert.equal((posts[1]!.json as OnCallPost).type, "incident.opened");
    assert.ok(!(await deadLetters()).some((d) => d.id === letter.id), "it left the dead-letter list");

    const after = await admin.get("/admin/notifications?done=replayed");
    assert.match(after.text, /<p class="flash" role="status">Replayed: the post is queued for its channel again\.<\/p>/);
    const channel = ((await rig.api("GET", "/notifications/channels")).body.channels as ChannelView[]).find((c) => c.id === "oncall")!;
    assert.deepEqual([channel.last_delivery?.incident?.id, channel.last_delivery?.replay], [id, true]);
    const audit = (await rig.api("GET", "/audit")).body.entries as { actor: string; method: string; path: string; status: number | null }[];
    const entries = audit.filter((e) => e.path === `/admin/notifications/dead/${letter.id}/replay`);
    assert.deepEqual(entries.map((e) => [e.actor, e.method, e.status]), [["admin", "POST", 404], ["admin", "POST", 303]], "both tries are in the audit log, credited");
  });

  it("a channel its receiver disabled (410 Gone) is shown so and enabled again from the console", async () => {
    rig.pager.answer({ status: 410, body: "gone" });
    const id = await open("Pager gone");
    await waitFor("the pager channel disabled", async () => ((await rig.api("GET", "/notifications/channels/disabled")).body.disabled as string[]).includes("pager"), 10_000, 25);
    const page = await admin.get("/admin/notifications");
    const row = /<tr><th scope="row">pager<\/th>([\s\S]*?)<\/tr>/.exec(page.text)?.[1] ?? "";
    assert.match(row, /Disabled/);
    assert.match(row, /<form method="post" action="\/admin\/notifications\/channels\/pager\/enable"/);
    const enabled = await admin.post("/admin/notifications/channels/pager/enable", { _csrf: csrfOf(page.text) });
    assert.equal(enabled.status, 303, enabled.text);
    assert.equal(enabled.location, "/admin/notifications?done=enabled");
    assert.deepEqual((await rig.api("GET", "/notifications/channels/disabled")).body.disabled, []);
    const unknown = await admin.post("/admin/notifications/channels/nope/enable", { _csrf: csrfOf(page.text) });
    assert.equal(unknown.status, 404);
    assert.match(unknown.text, /There is no such channel in pulseboard\.yaml\./);
    assert.ok(postsFor(id, rig.pager).length >= 1);
  });

  it("subscriber search finds by address (any case, any part); Remove asks first, then removes", async () => {
    const alpha = await rig.subscribeWebhook("/hooks/alpha-team");
    const beta = await rig.subscribeWebhook("/hooks/Beta-Team");
    const found = await admin.get("/admin/subscribers?q=BETA");
    assert.equal(found.status, 200);
    assert.match(found.text, /Matching “BETA”: 1<\/h2>/);
    assert.ok(found.text.includes(`/hooks/Beta-Team</p>`), "the match is listed");
    assert.ok(!found.text.includes("/hooks/alpha-team"), "the other one is not");
    assert.ok(found.text.includes(`href="/admin/subscribers/${beta}/remove"`));
    const everyone = await admin.get("/admin/subscribers");
    assert.match(everyone.text, /Everyone: 2<\/h2>/);

    const confirm = await admin.get(`/admin/subscribers/${beta}/remove`);
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /<h1 id="confirm-heading">Remove a subscriber\?<\/h1>/);
    assert.ok(confirm.text.includes(`<dd>${rig.hooks.url("/hooks/Beta-Team")}</dd>`), "it names the address");
    assert.match(confirm.text, /<button type="submit" class="ops-danger">Remove subscriber<\/button>/);
    assert.ok(await rig.subscriptions.store.subscriber(beta), "asking removes nothing");

    const removed = await admin.post(`/admin/subscribers/${beta}/remove`, { _csrf: csrfOf(confirm.text) });
    assert.equal(removed.status, 303, removed.text);
    assert.equal(removed.location, "/admin/subscribers?done=removed");
    assert.equal(await rig.subscriptions.store.subscriber(beta), undefined);
    const listed = (await rig.api("GET", "/subscribers")).body.subscribers as { id: string }[];
    assert.deepEqual(listed.map((s) => s.id), [alpha], "the admin API no longer lists it");
    const afterwards = await admin.get("/admin/subscribers?q=beta&done=removed");
    assert.match(afterwards.text, /Subscriber removed: nothing more is sent to them\./);
    assert.match(afterwards.text, /No subscriber's address holds that\./);
    const twice = await admin.post(`/admin/subscribers/${beta}/remove`, { _csrf: csrfOf(confirm.text) });
    assert.equal(twice.status, 404);
  });

  it("a read token sees every control disabled and its forged POSTs are 403; an incidents token may replay but not remove subscribers; no CSRF token is 403", async () => {
    rig.oncall.answer({ status: 400, body: "bad payload" });
    const id = await open("Read-only check");
    const letter = await waitFor("a dead letter", async () => (await deadLetters()).find((d) => d.channel === "oncall" && "incident" in d.job.event && d.job.event.incident.id === id), 10_000, 25);
    const subscriber = await rig.subscribeWebhook("/hooks/read-only-check");
    const reader = await signedIn(await tokenFor("viewer", ["read"]));

    const list = await reader.get("/admin/notifications");
    assert.equal(list.status, 200);
    assert.match(list.text, /Your token can read this page but not change anything on it \(that needs the <code>incidents<\/code> scope\)/);
    assert.ok(!list.text.includes(`href="/admin/notifications/dead/${letter.id}/replay"`), "no Replay link for a read token");
    assert.match(list.text, /<button type="button" class="ops-button-small" disabled aria-label="Replay the post to oncall \(needs the incidents scope\)">/);
    const confirm = await reader.get(`/admin/notifications/dead/${letter.id}/replay`);
    assert.match(confirm.text, /<fieldset class="controls" disabled>/);
    const subscribers = await reader.get("/admin/subscribers?q=read-only");
    assert.match(subscribers.text, /disabled aria-label="Remove subscriber [^"]*read-only-check \(needs the admin scope\)"/);

    const forgedReplay = await reader.post(`/admin/notifications/dead/${letter.id}/replay`, { _csrf: csrfOf(confirm.text) });
    assert.equal(forgedReplay.status, 403);
    assert.match(forgedReplay.text, /lacks the &quot;incidents&quot; scope/);
    const forgedRemove = await reader.post(`/admin/subscribers/${subscriber}/remove`, { _csrf: csrfOf(confirm.text) });
    assert.equal(forgedRemove.status, 403);
    assert.ok((await deadLetters()).some((d) => d.id === letter.id), "nothing was replayed");
    assert.ok(await rig.subscriptions.store.subscriber(subscriber), "nothing was removed");

    const oncall = await signedIn(await tokenFor("oncall-person", ["incidents"]));
    const removeAsOncall = await oncall.post(`/admin/subscribers/${subscriber}/remove`, { _csrf: csrfOf((await oncall.get("/admin/subscribers")).text) });
    assert.equal(removeAsOncall.status, 403, "removing a subscriber needs admin, as DELETE /admin/api/subscribers/:id does");
    assert.match(removeAsOncall.text, /lacks the &quot;admin&quot; scope/);
    const noCsrf = await oncall.post(`/admin/notifications/dead/${letter.id}/replay`, {});
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.text, /CSRF token is missing/);
    assert.ok((await deadLetters()).some((d) => d.id === letter.id), "nothing was replayed");
    const replay = await oncall.post(`/admin/notifications/dead/${letter.id}/replay`, { _csrf: csrfOf((await oncall.get("/admin/notifications")).text) });
    assert.equal(replay.status, 303, "an incidents token replays, as on the API");
    await waitFor("the replay at the receiver", () => postsFor(id).length === 2, 10_000, 25);
  });

  it("bad input: an oversized, repeated or hostile search, and made-up ids, get a clear answer; nothing changes; nothing is rendered unescaped", async () => {
    const hostile = await admin.get(`/admin/subscribers?q=${encodeURIComponent(SCRIPT)}`);
    assert.equal(hostile.status, 200);
    assertNoRawMarkup(hostile.text);
    assert.ok(hostile.text.includes("&lt;script&gt;alert(1)&lt;/script&gt;"), "the search is shown as text");
    const long = await admin.get(`/admin/subscribers?q=${"x".repeat(501)}`);
    assert.equal(long.status, 400);
    assert.deepEqual(issuesOf(long.text), ["Search: at most 500 characters (got 501); search for part of the address"]);
    const twice = await admin.get("/admin/subscribers?q=a&q=b");
    assert.equal(twice.status, 400);
    assert.deepEqual(issuesOf(twice.text), ["Search: sent more than once; send it once"]);

    const before = (await deadLetters()).length;
    const csrf = csrfOf((await admin.get("/admin/notifications")).text);
    for (const path of [`/admin/notifications/dead/${encodeURIComponent(SCRIPT)}/replay`, `/admin/subscribers/${encodeURIComponent('<img src=x onerror="alert(2)">')}/remove`]) {
      const shown = await admin.get(path);
      assert.equal(shown.status, 404, path);
      assertNoRawMarkup(shown.text);
      const sent = await admin.post(path, { _csrf: csrf });
      assert.equal(sent.status, 404, path);
      assertNoRawMarkup(sent.text);
    }
    const oversized = await admin.post(`/admin/notifications/dead/x/replay`, { _csrf: csrf, padding: "m".repeat(3 * 1024 * 1024) });
    assert.equal(oversized.status, 413);
    assert.equal((await deadLetters()).length, before, "nothing was replayed");
  });
});
