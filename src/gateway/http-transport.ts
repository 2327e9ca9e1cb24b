import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { ChannelHub } from "./channels.ts";
import type { Client } from "./client.ts";
import { PROTOCOL } from "./protocol.ts";
import type { KeyedRateLimiter } from "../core/index.ts";
import type { Admission } from "./safeguard.ts";
import { SseTransport, type Transport } from "./transport.ts";

/** What the SSE and HTTP publish endpoints need from their node. */
export interface HttpTransportContext {
  nodeId: string;
  hub: ChannelHub;
  maxPayload: number;
  heartbeatMs: number;
  publishLimiter: KeyedRateLimiter;
  admit(): Admission;
  register(transport: Transport): Client;
  unregister(client: Client): void;
  publish(channel: string, data: unknown): Promise<{ ok: true; serial: string } | { ok: false; reason: string; message: string }>;
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "content-type, last-event-id",
};

const publishBody = z.strictObject({
  channel: z.string().regex(PROTOCOL.channelPattern, { error: "channel names are 1-200 characters of letters, digits and _ . : @ -" }),
  data: z.unknown(),
});

/**
 * `GET /sse?channel=C&since=S`: the fallback transport. The same messages as
 * on /ws, one channel per stream; `Last-Event-ID` (sent by EventSource when it
 * reconnects) takes precedence over `since`.
 */
export function handleSse(req: IncomingMessage, res: ServerResponse, url: URL, ctx: HttpTransportContext): void {
  if (req.method !== "GET") return answer(res, 405, { code: "bad_frame", message: "use GET for /sse" });
  const channel = url.searchParams.get("channel") ?? "";
  if (!PROTOCOL.channelPattern.test(channel)) {
    return answer(res, 400, { code: "bad_channel", message: "give ?channel= with 1-200 characters of letters, digits and _ . : @ -" });
  }
  const admission = ctx.admit();
  if (!admission.ok) {
    res.setHeader("retry-after", String(Math.ceil(admission.retryAfterMs / 1000)));
    return answer(res, 503, { code: "over_capacity", message: "the node refuses new connections right now", retry_after_ms: admission.retryAfterMs });
  }
  const lastEventId = req.headers["last-event-id"];
  const since = (typeof lastEventId === "string" && lastEventId) || url.searchParams.get("since") || undefined;
  res.writeHead(200, { ...CORS, "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  res.write("retry: 1000\n\n");
  const client = ctx.register(new SseTransport(res));
  req.on("close", () => ctx.unregister(client));
  client.control({ type: "welcome", node: ctx.nodeId, connection: client.id, heartbeat: ctx.heartbeatMs });
  void ctx.hub.subscribe(client, channel, since, undefined);
}

/** `POST /publish` with `{"channel": C, "data": ANY}`: answers `{"serial": S}`. */
export async function handlePublishRequest(req: IncomingMessage, res: ServerResponse, ctx: HttpTransportContext): Promise<void> {
  if (req.method === "OPTIONS") {
    res.writeHead(204, CORS).end();
    return;
  }
  if (req.method !== "POST") return answer(res, 405, { code: "bad_frame", message: "use POST for /publish" });
  const text = await readBody(req, ctx.maxPayload);
  if (text === undefined) return answer(res, 413, { code: "frame_too_large", message: `bodies are limited to ${ctx.maxPayload} bytes` });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return answer(res, 400, { code: "bad_frame", message: "body is not valid JSON" });
  }
  const parsed = publishBody.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return answer(res, 400, { code: issue?.path[0] === "channel" ? "bad_channel" : "bad_frame", message: `${issue?.path.join(".") || "body"}: ${issue?.message}` });
  }
  if (!ctx.publishLimiter.take(req.socket.remoteAddress ?? "unknown")) {
    res.setHeader("retry-after", "1");
    return answer(res, 429, { code: "rate_limited", message: "too many publishes from this address" });
  }
  const outcome = await ctx.publish(parsed.data.channel, parsed.data.data);
  if (outcome.ok) return answer(res, 200, { serial: outcome.serial });
  if (outcome.reason === "dropped") return answer(res, 202, {});
  return answer(res, 503, { code: "cache_unavailable", message: outcome.message });
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { ...CORS, "content-type": "application/json" }).end(JSON.stringify(body));
}

/** Reads a body of at most `limit` bytes; undefined when it is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
