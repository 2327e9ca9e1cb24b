import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

/** How long browsers and CDNs may keep each kind of public response. */
export const CACHE_CONTROL = {
  page: "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400",
  api: "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400",
  feed: "public, max-age=60, stale-if-error=86400",
  badge: "public, max-age=60, stale-if-error=86400",
  none: "no-store",
} as const;

/** One public response, rendered once per snapshot version and sent as is. */
export interface Rendered {
  status: number;
  type: string;
  body: Buffer;
  etag: string;
  cacheControl: string;
  /** Readable from other origins (JSON, feeds, badges). */
  cors: boolean;
  /** The gzip form, made on first request that accepts it. */
  gzip?: Buffer;
}

/** Builds a response; the ETag is a digest of the bytes, so equal bodies share it across versions and replicas. */
export function rendered(type: string, body: string | Buffer, options: { status?: number; cacheControl: string; cors?: boolean }): Rendered {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  const etag = `"${createHash("sha1").update(bytes).digest("base64url").slice(0, 22)}"`;
  return { status: options.status ?? 200, type, body: bytes, etag, cacheControl: options.cacheControl, cors: options.cors ?? false };
}

/** JSON response of the public API. */
export function renderedJson(value: unknown, cacheControl: string = CACHE_CONTROL.api): Rendered {
  return rendered("application/json; charset=utf-8", JSON.stringify(value), { cacheControl, cors: true });
}

/** The body to send for an Accept-Encoding header: gzip when asked for and worth it. */
export function encodedBody(response: Rendered, acceptEncoding: string | undefined): { body: Buffer; gzip: boolean } {
  if (response.body.length < 1_024 || !acceptEncoding || !/\bgzip\b/.test(acceptEncoding)) return { body: response.body, gzip: false };
  response.gzip ??= gzipSync(response.body, { level: 6 });
  return { body: response.gzip, gzip: true };
}

/** Whether an If-None-Match header names this ETag (or `*`). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag);
}
