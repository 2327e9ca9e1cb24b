import type { Config } from "../config/index.ts";
import type { Incident } from "../status/index.ts";
import { INCIDENT_STATUS_LABELS } from "./labels.ts";
import type { RouteContext } from "./public-routes.ts";
import type { PublicRoute } from "./public-site.ts";
import { CACHE_CONTROL, rendered } from "./rendered.ts";
import { htmlEscape, xmlEscape } from "./xml.ts";

/** Incidents in each feed, most recent first. */
export const FEED_ITEMS = 50;

export const RSS_TYPE = "application/rss+xml; charset=utf-8";
export const ATOM_TYPE = "application/atom+xml; charset=utf-8";

/** What a feed is made of; `baseUrl` has no trailing slash. */
export interface FeedInput {
  pageName: string;
  baseUrl: string;
  timeZone: string;
  incidents: Incident[];
  /** Component names by id, for "This incident affected: …". */
  componentNames: Map<string, string>;
  /** When anything on the page last changed; the feed's date when it has no incidents. */
  updatedAt: string;
}

/** RSS 2.0 and Atom 1.0 feeds of incidents, each with its updates and, as a category, the worst impact it reached. */
export function feedRoutes({ config }: RouteContext): PublicRoute[] {
  const options = { cacheControl: CACHE_CONTROL.feed, cors: true };
  return [
    { path: "/history.rss", render: (s) => rendered(RSS_TYPE, rssFeed(feedInput(config, s.summary)), options) },
    { path: "/history.atom", render: (s) => rendered(ATOM_TYPE, atomFeed(feedInput(config, s.summary)), options) },
  ];
}

function feedInput(config: Config, summary: { recent: Incident[]; updated_at: string }): FeedInput {
  return {
    pageName: config.page.name,
    baseUrl: config.page.url.replace(/\/+$/, ""),
    timeZone: config.page.time_zone,
    incidents: summary.recent.slice(0, FEED_ITEMS),
    componentNames: new Map(config.components.map((c) => [c.id, c.name])),
    updatedAt: summary.updated_at,
  };
}

/** An RSS 2.0 document: dates in RFC 822, a permalink guid per incident, an atom:link to itself. */
export function rssFeed(input: FeedInput): string {
  const time = timeFormat(input.timeZone);
  const items = input.incidents.map((incident) => {
    const url = `${input.baseUrl}/incidents/${incident.id}`;
    return [
      "<item>",
      `<title>${xmlEscape(incident.name)}</title>`,
      `<link>${xmlEscape(url)}</link>`,
      `<guid isPermaLink="true">${xmlEscape(url)}</guid>`,
      `<pubDate>${rfc822(incident.started_at)}</pubDate>`,
      `<category domain="impact">${incident.impact}</category>`,
      `<description>${xmlEscape(incidentHtml(incident, input, time))}</description>`,
      "</item>",
    ].join("");
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>',
    `<title>${xmlEscape(feedTitle(input))}</title>`,
    `<link>${xmlEscape(`${input.baseUrl}/history`)}</link>`,
    `<description>${xmlEscape(`Incidents on the ${input.pageName} status page and their updates`)}</description>`,
    `<language>en</language>`,
    `<lastBuildDate>${rfc822(feedUpdated(input))}</lastBuildDate>`,
    `<atom:link href="${xmlEscape(`${input.baseUrl}/history.rss`)}" rel="self" type="application/rss+xml"/>`,
    ...items,
    "</channel></rss>",
    "",
  ].join("\n");
}

/** An Atom 1.0 document: dates in RFC 3339, the incident URL as each entry's stable id. */
export function atomFeed(input: FeedInput): string {
  const time = timeFormat(input.timeZone);
  const entries = input.incidents.map((incident) => {
    const url = `${input.baseUrl}/incidents/${incident.id}`;
    return [
      "<entry>",
      `<id>${xmlEscape(url)}</id>`,
      `<title type="text">${xmlEscape(incident.name)}</title>`,
      `<published>${rfc3339(incident.started_at)}</published>`,
      `<updated>${rfc3339(incident.updated_at)}</updated>`,
      `<link rel="alternate" type="text/html" href="${xmlEscape(url)}"/>`,
      `<category term="${incident.impact}" label="${capitalized(incident.impact)} impact"/>`,
      `<content type="html">${xmlEscape(incidentHtml(incident, input, time))}</content>`,
      "</entry>",
    ].join("");
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
    `<id>${xmlEscape(`${input.baseUrl}/history.atom`)}</id>`,
    `<title type="text">${xmlEscape(feedTitle(input))}</title>`,
    `<updated>${rfc3339(feedUpdated(input))}</updated>`,
    `<author><name>${xmlEscape(input.pageName)}</name></author>`,
    `<link rel="alternate" type="text/html" href="${xmlEscape(`${input.baseUrl}/history`)}"/>`,
    `<link rel="self" type="application/atom+xml" href="${xmlEscape(`${input.baseUrl}/history.atom`)}"/>`,
    ...entries,
    "</feed>",
    "",
  ].join("\n");
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function feedTitle(input: FeedInput): string {
  return `${input.pageName} - Incident history`;
}

/** The newest change among the incidents; the page's when there are none, so the bytes (and ETag) stay put between refreshes. */
function feedUpdated(input: FeedInput): string {
  const stamps = input.incidents.map((i) => i.updated_at).sort();
  return stamps.at(-1) ?? input.updatedAt;
}

/**
 * The incident as HTML, like Statuspage's feeds: its updates newest first,
 * each with time, status and body, then the components it affected. Every
 * typed value is HTML-escaped here, and the whole is XML-escaped by the feed.
 */
function incidentHtml(incident: Incident, input: FeedInput, time: Intl.DateTimeFormat): string {
  const updates = [...incident.updates].reverse().map((update) => {
    const body = htmlEscape(update.body).replace(/\r?\n/g, "<br>");
    return `<p><small>${htmlEscape(time.format(new Date(update.display_at)))}</small><br><strong>${INCIDENT_STATUS_LABELS[update.status]}</strong> - ${body}</p>`;
  });
  const affected = Object.keys(incident.components).map((id) => htmlEscape(input.componentNames.get(id) ?? id));
  if (affected.length > 0) updates.push(`<p>This incident affected: ${affected.join(", ")}.</p>`);
  return updates.join("");
}

/** Update times as people read them, in the page's time zone: `Jan 20, 2026, 14:27 UTC`. */
function timeFormat(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });
}

/** RFC 822 (as RSS 2.0 uses it), e.g. `Tue, 20 Jan 2026 14:27:26 GMT`. */
function rfc822(iso: string): string {
  return new Date(iso).toUTCString();
}

/** RFC 3339 in UTC, e.g. `2026-01-20T14:27:26.256Z`. */
function rfc3339(iso: string): string {
  return new Date(iso).toISOString();
}
