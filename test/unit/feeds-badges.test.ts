import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Incident, IncidentUpdate } from "../../src/status/index.ts";
import { badgeSvg, LABEL_COLOR, STATUS_COLORS, textWidth } from "../../src/web/badges.ts";
import { atomFeed, rssFeed, type FeedInput } from "../../src/web/feeds.ts";
import { xmlEscape } from "../../src/web/xml.ts";
import { child, children, parseXml } from "../helpers/xml.ts";

const AUTHOR = { kind: "person", name: "Ops" } as const;

function update(status: IncidentUpdate["status"], body: string, at: string): IncidentUpdate {
  return { id: `u-${at}`, status, body, created_at: at, display_at: at, affected_components: [], author: AUTHOR };
}

function incident(id: string, name: string, updates: IncidentUpdate[], components: Incident["components"] = {}): Incident {
  const last = updates.at(-1)!;
  return {
    id,
    name,
    status: last.status,
    impact: "minor",
    automatic: false,
    created_at: updates[0]!.created_at,
    updated_at: last.created_at,
    started_at: updates[0]!.created_at,
    monitoring_at: null,
    resolved_at: last.status === "resolved" ? last.created_at : null,
    components,
    updates,
    postmortem: null,
    revision: updates.length,
  };
}

/** Every character people might type that XML cannot carry, and markup that must stay text. */
const HOSTILE_NAME = `<script>alert("x")</script> & ]]> 'quoted'\u0001\u0008\u000B\u001F\uFFFE tail \uD800`;
const HOSTILE_NAME_AS_TEXT = `<script>alert("x")</script> & ]]> 'quoted' tail `;
const HOSTILE_BODY = `Line one <img src=x onerror=alert(1)> & "more" ]]>\u0000\nline two \u{1F525}`;

function input(incidents: Incident[]): FeedInput {
  return {
    pageName: `Acme <Live> & "Co"`,
    baseUrl: "https://status.acme.test",
    timeZone: "Europe/Berlin",
    incidents,
    componentNames: new Map([["chat", "Chat <rooms>"]]),
    updatedAt: "2026-03-01T09:00:00.000Z",
  };
}

const CALM = incident("inc-calm", "Chat is slow", [
  update("investigating", "Looking into it.", "2026-03-01T10:00:00.000Z"),
  update("resolved", "Fixed.", "2026-03-01T11:30:00.000Z"),
], { chat: "degraded_performance" });
const HOSTILE = incident("inc-hostile", HOSTILE_NAME, [update("investigating", HOSTILE_BODY, "2026-03-02T08:15:00.000Z")]);

describe("feeds: RSS 2.0 and Atom 1.0 of incidents", () => {
  it("RSS parses with a strict XML parser: channel, self link, one item per incident with permalink guid and RFC 822 date", () => {
    const rss = parseXml(rssFeed(input([HOSTILE, CALM])));
    assert.equal(rss.name, "rss");
    assert.equal(rss.attributes.version, "2.0");
    const channel = child(rss, "channel");
    assert.equal(child(channel, "title").text, `Acme <Live> & "Co" - Incident history`);
    assert.equal(child(channel, "link").text, "https://status.acme.test/history");
    assert.ok(child(channel, "description").text.length > 0);
    const self = child(channel, "atom:link");
    assert.deepEqual([self.attributes.rel, self.attributes.href, self.attributes.type], ["self", "https://status.acme.test/history.rss", "application/rss+xml"]);
    assert.equal(child(channel, "lastBuildDate").text, "Mon, 02 Mar 2026 08:15:00 GMT");
    const items = children(channel, "item");
    assert.equal(items.length, 2);
    const calm = items[1]!;
    assert.equal(child(calm, "title").text, "Chat is slow");
    assert.equal(child(calm, "link").text, "https://status.acme.test/incidents/inc-calm");
    assert.equal(child(calm, "guid").text, "https://status.acme.test/incidents/inc-calm");
    assert.equal(child(calm, "guid").attributes.isPermaLink, "true");
    assert.match(child(calm, "pubDate").text, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.equal(child(calm, "pubDate").text, "Sun, 01 Mar 2026 10:00:00 GMT");
    // Updates newest first, each with its time in the page's zone, status label and body; then the components.
    const html = child(calm, "description").text;
    assert.equal(
      html,
      "<p><small>Mar 1, 2026, 12:30 GMT+1</small><br><strong>Resolved</strong> - Fixed.</p>" +
        "<p><small>Mar 1, 2026, 11:00 GMT+1</small><br><strong>Investigating</strong> - Looking into it.</p>" +
        "<p>This incident affected: Chat &lt;rooms&gt;.</p>",
    );
  });

  it("Atom parses with a strict XML parser: id, updated, author, self link; entries with stable ids and RFC 3339 dates", () => {
    const feed = parseXml(atomFeed(input([HOSTILE, CALM])));
    assert.equal(feed.name, "feed");
    assert.equal(feed.attributes.xmlns, "http://www.w3.org/2005/Atom");
    assert.equal(child(feed, "id").text, "https://status.acme.test/history.atom");
    assert.equal(child(feed, "title").text, `Acme <Live> & "Co" - Incident history`);
    assert.equal(child(feed, "updated").text, "2026-03-02T08:15:00.000Z");
    assert.equal(child(child(feed, "author"), "name").text, `Acme <Live> & "Co"`);
    const links = children(feed, "link").map((l) => `${l.attributes.rel} ${l.attributes.type} ${l.attributes.href}`);
    assert.deepEqual(links, ["alternate text/html https://status.acme.test/history", "self application/atom+xml https://status.acme.test/history.atom"]);
    const entries = children(feed, "entry");
    assert.equal(entries.length, 2);
    const calm = entries[1]!;
    assert.equal(child(calm, "id").text, "https://status.acme.test/incidents/inc-calm");
    assert.equal(child(calm, "published").text, "2026-03-01T10:00:00.000Z");
    assert.equal(child(calm, "updated").text, "2026-03-01T11:30:00.000Z");
    const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
    for (const entry of entries) for (const field of ["published", "updated"]) assert.match(child(entry, field).text, rfc3339);
    assert.equal(child(calm, "link").attributes.href, "https://status.acme.test/incidents/inc-calm");
    assert.equal(child(calm, "content").attributes.type, "html");
    assert.match(child(calm, "content").text, /<strong>Resolved<\/strong> - Fixed\./);
    // The same incident keeps the same id when its feed is rendered again later.
    const again = parseXml(atomFeed(input([CALM])));
    assert.equal(child(child(again, "entry"), "id").text, child(calm, "id").text);
  });

  it("a hostile name and body round-trip as text: markup stays text, characters XML forbids are dropped", () => {
    for (const [render, itemName, bodyName] of [
      [rssFeed, "item", "description"],
      [atomFeed, "entry", "content"],
    ] as const) {
      const source = render(input([HOSTILE]));
      assert.ok(!/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(source), "no forbidden character in the bytes");
      assert.ok(!source.includes("<script>") && !source.includes("<img"), "no live markup");
      const root = parseXml(source);
      const item = child(root.name === "rss" ? child(root, "channel") : root, itemName);
      assert.equal(child(item, "title").text, HOSTILE_NAME_AS_TEXT);
      // The content is HTML carried as text: decoding the XML gives HTML in which the body is still escaped.
      const html = child(item, bodyName).text;
      assert.ok(html.includes(`Line one &lt;img src=x onerror=alert(1)&gt; &amp; &quot;more&quot; ]]&gt;<br>line two \u{1F525}`), html);
      assert.ok(!html.includes("<img"));
    }
  });

  it("an empty history is still a valid feed, dated by the page", () => {
    const rss = parseXml(rssFeed(input([])));
    assert.equal(children(child(rss, "channel"), "item").length, 0);
    assert.equal(child(child(rss, "channel"), "lastBuildDate").text, "Sun, 01 Mar 2026 09:00:00 GMT");
    const atom = parseXml(atomFeed(input([])));
    assert.equal(children(atom, "entry").length, 0);
    assert.equal(child(atom, "updated").text, "2026-03-01T09:00:00.000Z");
  });
});

describe("badges: shields-style SVG", () => {
  it("is well-formed SVG, one accessible image saying label and message", () => {
    const source = badgeSvg({ label: "status", message: "partial outage", color: STATUS_COLORS.partial_outage });
    const svg = parseXml(source);
    assert.equal(svg.name, "svg");
    assert.equal(svg.attributes.xmlns, "http://www.w3.org/2000/svg");
    assert.equal(svg.attributes.role, "img");
    assert.equal(svg.attributes["aria-label"], "status: partial outage");
    assert.equal(child(svg, "title").text, "status: partial outage");
    assert.equal(svg.attributes.height, "20");
    const texts = svg.children.flatMap((c) => children(c, "text")).filter((t) => t.attributes["aria-hidden"] !== "true").map((t) => t.text);
    assert.deepEqual(texts, ["status", "partial outage"]);
    const rects = child(svg, "g").children.map((r) => r.attributes.fill);
    assert.deepEqual(rects.slice(0, 2), [LABEL_COLOR, STATUS_COLORS.partial_outage]);
    assert.equal(Number(svg.attributes.width), Math.round(textWidth("status")) + 10 + Math.round(textWidth("partial outage")) + 10);
  });

  it("escapes component names people typed and shortens long ones", () => {
    const name = `Chat <b>"EU"</b> & ]]>\u0007`;
    const svg = parseXml(badgeSvg({ label: name, message: "operational", color: STATUS_COLORS.operational }));
    assert.equal(svg.attributes["aria-label"], `Chat <b>"EU"</b> & ]]>: operational`);
    assert.equal(child(svg, "title").text, `Chat <b>"EU"</b> & ]]>: operational`);
    const long = parseXml(badgeSvg({ label: "x".repeat(200), message: "operational", color: STATUS_COLORS.operational }));
    assert.ok(Number(long.attributes.width) < 500, long.attributes.width);
    assert.match(child(long, "title").text, /…: operational$/);
  });

  it("estimates text widths: wider text, wider badge; wide scripts count wide", () => {
    assert.ok(textWidth("major outage") > textWidth("operational"));
    assert.ok(textWidth("WWW") > textWidth("iii"));
    assert.equal(textWidth("状态"), 22);
  });

  it("every status colour keeps white text at 4.5:1 or more (WCAG AA)", () => {
    for (const [status, color] of Object.entries({ ...STATUS_COLORS, label: LABEL_COLOR })) {
      assert.ok(contrastWithWhite(color) >= 4.5, `${status} ${color}: ${contrastWithWhite(color).toFixed(2)}`);
    }
  });
});

describe("xmlEscape", () => {
  it("escapes markup and drops what XML 1.0 forbids, keeping tabs, newlines and astral characters", () => {
    assert.equal(xmlEscape(`a<b>&"'\u0000\u001F\uFFFF\uDC00\t\n\r\u{1F525}`), "a&lt;b&gt;&amp;&quot;&apos;\t\n\r\u{1F525}");
  });
});

function contrastWithWhite(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(1 + i * 2, 3 + i * 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  return 1.05 / (luminance + 0.05);
}
