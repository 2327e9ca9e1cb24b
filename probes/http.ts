import http from "node:http";
import https from "node:https";
import { z } from "zod";
import { parseSize } from "../src/config/index.ts";
import { checkEgressUrl, defineProbe, egressLookup, httpUrlSetting, ProbeFailure } from "../src/probe-runtime/index.ts";

/** "200", "200-399" or 204: one status or an inclusive range. */
const statusRange = z.union([z.int().min(100).max(599), z.string().regex(/^\d{3}(-\d{3})?$/, { error: 'expected a status like 200 or a range like "200-399"' })]);

const settingsSchema = z
  .strictObject({
    url: httpUrlSetting,
    /** @defaultValue "GET" */
    method: z.enum(["GET", "HEAD"]).default("GET"),
    /**
     * Statuses that pass: one, a range, or a list of them. Redirects are not
     * followed; a 3xx passes under the default and its Location is reported.
     * @defaultValue "200-399"
     */
    status: z.union([statusRange, z.array(statusRange).min(1)]).default("200-399"),
    /** Text the body must contain (within `max_body`). */
    contains: z.string().min(1).optional(),
    /** A regular expression the body must match (within `max_body`). */
    matches: z
      .string()
      .min(1)
      .refine((source) => compiles(source), { error: "not a valid regular expression" })
      .optional(),
    /** Request headers, e.g. a user agent or a cookie for a login page. */
    headers: z.record(z.string(), z.string()).default({}),
    /**
     * The most body read; the rest is not downloaded.
     * @defaultValue "256KiB"
     */
    max_body: z
      .union([z.int(), z.string()])
      .default("256KiB")
      .transform((value, ctx) => parseSize(value) ?? (ctx.addIssue({ code: "custom", message: 'expected a size like "256KiB"' }), z.NEVER)),
  })
  .refine((s) => s.method === "GET" || (s.contains === undefined && s.matches === undefined), { error: "a HEAD request has no body to check: use GET with contains or matches" });

/**
 * Fetches a page of the platform (landing page, login page) the way a
 * browser would, without following redirects, and checks its status and
 * optionally its body. Phases: connect (TCP, and TLS for https), first byte
 * (status and headers), body (at most `max_body` bytes).
 */
export default defineProbe({
  kind: "http",
  description: "HTTP(S) request: status, latency and an optional body match",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const url = new URL(settings.url);
    const secure = url.protocol === "https:";
    try {
      checkEgressUrl(url);
    } catch (err) {
      throw new ProbeFailure((err as Error).message);
    }
    const req = (secure ? https : http).request(url, { method: settings.method, headers: settings.headers, agent: false, signal: ctx.signal, lookup: egressLookup });
    // Each step is a promise made up front, so an early error rejects them all and none goes unhandled.
    const failed = new Promise<never>((_, reject) => req.on("error", (err) => reject(explain(err, url))));
    const connected = new Promise<void>((resolve) => req.once("socket", (s) => (s.connecting ? s.once(secure ? "secureConnect" : "connect", () => resolve()) : resolve())));
    const responded = new Promise<http.IncomingMessage>((resolve) => req.once("response", resolve));
    failed.catch(() => {});
    req.end();
    try {
      await ctx.phase("connect", () => Promise.race([connected, failed]));
      const res = await ctx.phase("first byte", () => Promise.race([responded, failed]));
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      const body = settings.method === "GET" ? await ctx.phase("body", () => readCapped(res, settings.max_body, failed)) : undefined;
      const details: Record<string, unknown> = { url: url.href, status, ...(location ? { redirect: location } : {}), ...(body ? { bytes: body.bytes, truncated: body.truncated } : {}) };

      const ranges = parseRanges(settings.status);
      if (!ranges.some(([lo, hi]) => status >= lo && status <= hi)) {
        const got = location && status >= 300 && status < 400 ? `a redirect (${status}) to ${location}` : `HTTP ${status}${snippet(body?.text)}`;
        throw new ProbeFailure(`${url.href} answered ${got}; expected ${describeRanges(ranges)}`);
      }
      if (body && settings.contains !== undefined && !body.text.includes(settings.contains)) {
        throw new ProbeFailure(`${url.href} (HTTP ${status}) does not contain ${JSON.stringify(settings.contains)} in ${describeRead(body)}`);
      }
      if (body && settings.matches !== undefined && !new RegExp(settings.matches).test(body.text)) {
        throw new ProbeFailure(`${url.href} (HTTP ${status}) does not match /${settings.matches}/ in ${describeRead(body)}`);
      }
      return { status: "ok", details };
    } finally {
      req.destroy();
    }
  },
});

/** Reads at most `limit` bytes of the body, then stops downloading. */
function readCapped(res: http.IncomingMessage, limit: number, failed: Promise<never>): Promise<{ text: string; bytes: number; truncated: boolean }> {
  const read = new Promise<{ text: string; bytes: number; truncated: boolean }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on("data", (chunk: Buffer) => {
      const room = limit - bytes;
      chunks.push(chunk.subarray(0, room));
      bytes += Math.min(room, chunk.length);
      if (chunk.length >= room) {
        // Settled first: destroying the response reports it as aborted.
        resolve({ text: Buffer.concat(chunks).toString("utf8"), bytes, truncated: true });
        res.destroy();
      }
    });
    res.on("end", () => resolve({ text: Buffer.concat(chunks).toString("utf8"), bytes, truncated: false }));
    res.on("error", (err) => reject(new ProbeFailure(`the body broke off after ${bytes} bytes: ${err.message}`)));
    res.on("aborted", () => reject(new ProbeFailure(`the server closed the connection after ${bytes} bytes of the body`)));
  });
  return Promise.race([read, failed]);
}

function parseRanges(setting: number | string | (number | string)[]): [number, number][] {
  return (Array.isArray(setting) ? setting : [setting]).map((item) => {
    const [lo, hi] = String(item).split("-").map(Number);
    return [lo!, hi ?? lo!];
  });
}

function describeRanges(ranges: [number, number][]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(", ");
}

function describeRead(body: { bytes: number; truncated: boolean }): string {
  return body.truncated ? `the first ${body.bytes} bytes (max_body)` : `its ${body.bytes}-byte body`;
}

function snippet(text: string | undefined): string {
  const trimmed = text?.replace(/\s+/g, " ").trim().slice(0, 120);
  return trimmed ? `: "${trimmed}"` : "";
}

function compiles(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

function explain(err: Error, url: URL): Error {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (err.name === "AbortError") return new ProbeFailure("aborted at the deadline");
  if (code === "ECONNREFUSED") return new ProbeFailure(`connection refused by ${url.host}: nothing is listening`);
  if (code === "ECONNRESET") return new ProbeFailure(`connection reset by ${url.host}`);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return new ProbeFailure(`cannot resolve ${url.hostname}`);
  if (/CERT|SSL|TLS/.test(code)) return new ProbeFailure(`TLS with ${url.host} failed: ${err.message} (${code})`);
  return new ProbeFailure(`${url.host}: ${err.message}`);
}
