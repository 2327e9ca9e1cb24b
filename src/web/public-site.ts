import type { IncomingMessage, ServerResponse } from "node:http";
import { KeyedRateLimiter } from "../core/index.ts";
import { clientAddress } from "./client-address.ts";
import type { Snapshot, SnapshotService } from "./snapshot.ts";
import { encodedBody, etagMatches, type Rendered } from "./rendered.ts";

/**
 * Headers every response of the web role carries: a CSP without inline
 * script (the page's only script is /static/live.js), no framing, no
 * sniffing.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "strict-origin-when-cross-origin",
  "cross-origin-opener-policy": "same-origin",
};

/** A public route: answered from the snapshot, rendered once per version. */
export interface PublicRoute {
  /** An exact path, or a pattern whose groups are handed to render. */
  path: string | RegExp;
  /** Query parameters that change the answer (others are ignored, so they cannot fill the cache). */
  query?: string[];
  /** The response, or undefined for "no such thing" (answered with notFound). */
  render(snapshot: Snapshot, params: string[], query: Record<string, string>): Rendered | undefined;
}

export interface PublicSiteOptions {
  snapshot: SnapshotService;
  routes: PublicRoute[];
  /** Answer for a route whose render found nothing. */
  notFound(snapshot: Snapshot, path: string): Rendered;
  /** Answer before the first snapshot could be read (HTML for pages, JSON for the API). */
  unavailable(path: string): Rendered;
  /** Requests per client address: a token bucket each. @defaultValue no limit */
  rateLimit?: { perSecond: number; burst: number; trustProxy: boolean };
}

/** Cached renderings per version are bounded, so made-up URLs cannot grow memory. */
const MAX_CACHED = 2_000;

/**
 * The public side of the web role, answered in front of Express: a lookup in
 * a per-version cache of rendered responses, ETag and 304, gzip made once.
 * Returns false for anything that is not a public route, which Express then
 * handles.
 */
export class PublicSite {
  private readonly exact = new Map<string, PublicRoute>();
  private readonly patterns: PublicRoute[] = [];
  private cache = new Map<string, Rendered>();
  private cachedVersion = -1;
  private readonly limiter?: KeyedRateLimiter;

  constructor(private readonly options: PublicSiteOptions) {
    if (options.rateLimit) this.limiter = new KeyedRateLimiter(options.rateLimit.perSecond, options.rateLimit.burst);
    for (const route of options.routes) {
      if (typeof route.path === "string") this.exact.set(route.path, route);
      else this.patterns.push(route);
    }
  }

  /** Answers a public route and returns true, or returns false without touching the response. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const url = req.url ?? "/";
    const mark = url.indexOf("?");
    const pathname = mark === -1 ? url : url.slice(0, mark);
    let route = this.exact.get(pathname);
    let params: string[] = [];
    if (!route) {
      for (const candidate of this.patterns) {
        const match = (candidate.path as RegExp).exec(pathname);
        if (match) {
          route = candidate;
          params = match.slice(1).map((p) => safeDecode(p));
          break;
        }
      }
    }
    if (!route) return false;
    if (this.limiter && !this.limiter.take(clientAddress(req, this.options.rateLimit!.trustProxy))) {
      tooMany(res, this.options.rateLimit!.perSecond);
      return true;
    }
    const query = route.query && mark !== -1 ? pick(new URLSearchParams(url.slice(mark + 1)), route.query) : {};
    this.send(req, res, this.responseFor(route, pathname, params, query));
    return true;
  }

  /** The response a route gives now (also what tests and the bench read). */
  responseFor(route: PublicRoute, pathname: string, params: string[], query: Record<string, string>): Rendered {
    const snapshot = this.options.snapshot.current();
    if (!snapshot) return this.options.unavailable(pathname);
    if (snapshot.version !== this.cachedVersion || this.cache.size > MAX_CACHED) {
      this.cache = new Map();
      this.cachedVersion = snapshot.version;
    }
    const key = `${pathname}?${Object.entries(query).map(([k, v]) => `${k}=${v}`).join("&")}`;
    let response = this.cache.get(key);
    if (!response) {
      response = route.render(snapshot, params, query) ?? this.options.notFound(snapshot, pathname);
      this.cache.set(key, response);
    }
    return response;
  }

  private send(req: IncomingMessage, res: ServerResponse, response: Rendered): void {
    const snapshot = this.options.snapshot.current();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.setHeader("cache-control", response.cacheControl);
    res.setHeader("etag", response.etag);
    res.setHeader("vary", "accept-encoding");
    if (response.cors) res.setHeader("access-control-allow-origin", "*");
    if (snapshot?.staleSince) res.setHeader("x-pulseboard-stale-since", snapshot.staleSince);
    if (response.status === 503) res.setHeader("retry-after", "5");
    if (response.status === 200 && etagMatches(req.headers["if-none-match"], response.etag)) {
      res.writeHead(304).end();
      return;
    }
    const { body, gzip } = encodedBody(response, req.headers["accept-encoding"]);
    res.setHeader("content-type", response.type);
    res.setHeader("content-length", body.length);
    if (gzip) res.setHeader("content-encoding", "gzip");
    res.writeHead(response.status);
    res.end(req.method === "HEAD" ? undefined : body);
  }
}

/** 429 with the wait for one more request: a client over its rate gets told when to come back. */
function tooMany(res: ServerResponse, perSecond: number): void {
  const body = JSON.stringify({ code: "rate_limited", message: "too many requests from this address; slow down and retry" });
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  res.writeHead(429, { "content-type": "application/json; charset=utf-8", "retry-after": String(Math.max(1, Math.ceil(1 / perSecond))), "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function pick(params: URLSearchParams, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) {
    const value = params.get(key);
    if (value !== null && value.length <= 64) out[key] = value;
  }
  return out;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
