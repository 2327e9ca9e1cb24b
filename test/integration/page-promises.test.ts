import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import { openIncident, resolveIncident, type Author, type StatusContext } from "../../src/status/index.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * What the README promises of the public page's HTTP, on the web role over a
 * real redis-server and real HTTP: the exact Content-Security-Policy, and
 * `/history?page=N` (three months a page) with links between the pages.
 */

const TOKEN = "page-promises-admin-token-0123";
const PERSON: Author = { kind: "person", name: "Ana Lima" };
/** Written out in full: a change to the policy is a change to what browsers allow, so it must fail here first. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/** One resolved incident in each of five months: two history pages (3 + 2 months). */
const MONTHS = [
  { label: "January 2025", start: Date.UTC(2025, 0, 14, 9) },
  { label: "February 2025", start: Date.UTC(2025, 1, 11, 9) },
  { label: "March 2025", start: Date.UTC(2025, 2, 11, 9) },
  { label: "April 2025", start: Date.UTC(2025, 3, 15, 9) },
  { label: "May 2025", start: Date.UTC(2025, 4, 13, 9) },
];

/** The month headings a history page shows, in order. */
const monthsOn = (html: string) => [...html.matchAll(/<h2 id="month-\d+">([^<]+)<\/h2>/g)].map((m) => m[1]);
/** The pager's links: label → href. */
const pagerOf = (html: string) => Object.fromEntries([...html.matchAll(/<a href="(\/history\?page=\d+)">(← Newer|Older →)<\/a>/g)].map((m) => [m[2], m[1]]));

describe("the public page's CSP and history paging (real redis-server, real HTTP)", () => {
  let rig: WebRig;
  let incidentOf: Map<string, string>;

  before(async () => {
    rig = await startWebRig(`
page: { name: Lumen Live, url: "https://status.lumen.example", time_zone: UTC }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`, { tokens: [TOKEN] });
    incidentOf = new Map();
    for (const month of MONTHS) {
      let clock = month.start;
      // The verbs on a clock of the test's, so each incident starts and resolves in its month.
      const ctx: StatusContext = { ...rig.status, now: () => new Date(clock) };
      const { incident } = await openIncident(ctx, { name: `Chat outage of ${month.label}`, body: `Chat messages failed in ${month.label}.`, components: { chat: "major_outage" }, author: PERSON });
      clock += 3_600_000;
      await resolveIncident(ctx, { id: incident.id, body: "Chat works again.", author: PERSON });
      incidentOf.set(month.label, incident.id);
    }
    await rig.snapshot.refresh();
  });
  after(async () => {
    await rig?.stop();
  });

  it("sends the exact Content-Security-Policy on the status page, the history, an incident and the not-found page, with no inline script to need more", async () => {
    const paths = ["/", "/history", "/history?page=2", `/incidents/${incidentOf.get("March 2025")}`, "/incidents/no-such-incident"];
    for (const path of paths) {
      const res = await request(rig.app).get(path);
      assert.equal(res.headers["content-security-policy"], CSP, path);
      assert.match(String(res.headers["content-type"]), /^text\/html/, path);
      const scripts = [...res.text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      for (const [tag, attributes, inline] of scripts) {
        assert.match(attributes!, /\bsrc="\/static\/[\w.-]+\.js"/, `${path}: every script is a file of ours (${tag})`);
        assert.equal(inline!.trim(), "", `${path}: no inline script`);
      }
      assert.doesNotMatch(res.text, /\son[a-z]+="/, `${path}: no inline event handlers`);
      assert.doesNotMatch(res.text, /\sstyle="/, `${path}: no inline styles (style-src 'self')`);
    }
    assert.ok((await request(rig.app).get("/")).text.includes('<script src="/static/live.js" defer></script>'), "the home page's only script is live.js");
  });

  it("pages the history three months at a time, newest first, with links that lead from page to page", async () => {
    const first = await request(rig.app).get("/history").expect(200);
    assert.deepEqual(monthsOn(first.text), ["May 2025", "April 2025", "March 2025"]);
    for (const label of ["May 2025", "April 2025", "March 2025"]) assert.ok(first.text.includes(`<a href="/incidents/${incidentOf.get(label)}">Chat outage of ${label}</a>`), label);
    assert.ok(!first.text.includes("February 2025") && !first.text.includes("January 2025"), "older months wait for page 2");
    assert.deepEqual(pagerOf(first.text), { "Older →": "/history?page=2" }, "page 1 links only to older");

    const second = await request(rig.app).get(pagerOf(first.text)["Older →"]!).expect(200);
    assert.deepEqual(monthsOn(second.text), ["February 2025", "January 2025"]);
    for (const label of ["February 2025", "January 2025"]) assert.ok(second.text.includes(`<a href="/incidents/${incidentOf.get(label)}">Chat outage of ${label}</a>`), label);
    assert.ok(!second.text.includes("March 2025"), "no month on two pages");
    assert.deepEqual(pagerOf(second.text), { "← Newer": "/history?page=1" }, "the last page links only to newer");

    const back = await request(rig.app).get(pagerOf(second.text)["← Newer"]!).expect(200);
    assert.equal(back.text, first.text, "?page=1 is the first page");
    const incident = await request(rig.app).get(`/incidents/${incidentOf.get("January 2025")}`).expect(200);
    assert.ok(incident.text.includes("Chat messages failed in January 2025."), "an older page's incident link works");
  });

  it("answers a page number that is not one with 400 saying what page takes, and a page past the last with 404", async () => {
    for (const page of ["0", "-1", "abc", "1.5", "2e0", "<b>2</b>"]) {
      const res = await request(rig.app).get(`/history?page=${encodeURIComponent(page)}`).expect(400);
      assert.match(String(res.headers["content-type"]), /^text\/html/, page);
      const shown = page.replace(/</g, "&lt;").replace(/>/g, "&gt;");
      assert.ok(res.text.includes(`The history has no page “${shown}”: the page parameter takes a whole number from 1.`), `${page}: ${res.text}`);
      assert.equal(res.headers["content-security-policy"], CSP);
    }
    const past = await request(rig.app).get("/history?page=3").expect(404);
    assert.match(past.text, /<h1>Not found<\/h1>/);
  });
});
