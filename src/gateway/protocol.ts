import { z } from "zod";

/** Fixed bounds of the protocol (the configurable ones live in GatewayLimits). */
export const PROTOCOL = {
  channelPattern: /^[A-Za-z0-9_.:@-]{1,200}$/,
  /** Frames beyond this are refused by the socket itself (close 1009). */
  hardMaxFrameBytes: 16 * 1024 * 1024 + 4096,
} as const;

/** Stable codes of `error` frames; docs/protocol.md explains each. */
export type ErrorCode =
  | "bad_frame"
  | "frame_too_large"
  | "bad_channel"
  | "rate_limited"
  | "too_many_subscriptions"
  | "cache_unavailable"
  | "overloaded"
  | "over_capacity";

const channel = z.string({ error: "channel must be a string" });
const requestId = z.union([z.string().max(100), z.number()], { error: "id must be a string or a number" }).optional();

/** Frames a client may send. */
export const clientFrameSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("subscribe"), channel, since: z.string().max(100).optional(), id: requestId }),
    z.object({ type: z.literal("unsubscribe"), channel, id: requestId }),
    z.object({ type: z.literal("publish"), channel, data: z.unknown(), id: requestId }),
    z.object({ type: z.literal("ping"), id: requestId }),
  ],
  { error: 'type must be one of "subscribe", "unsubscribe", "publish", "ping"' },
);
export type ClientFrame = z.output<typeof clientFrameSchema>;

export type RequestId = string | number | undefined;

/** Control frames the server sends (messages are pre-serialized, see Delivery). */
export type ServerFrame =
  | { type: "welcome"; node: string; connection: string; heartbeat: number }
  | { type: "subscribed"; channel: string; id?: RequestId; serial: string; recovered: boolean }
  | { type: "unsubscribed"; channel: string; id?: RequestId }
  | { type: "ack"; id?: RequestId; serial: string }
  | { type: "pong"; id?: RequestId }
  | ErrorFrame;

export type ErrorFrame = { type: "error"; id?: RequestId; code: ErrorCode; message: string; retry_after_ms?: number };

/**
 * Parses a client frame, or returns the `error` frame that says what was
 * wrong with it. `maxBytes` is the configured payload bound.
 */
export function parseClientFrame(text: string, maxBytes: number): ClientFrame | ErrorFrame {
  if (Buffer.byteLength(text) > maxBytes) {
    return { type: "error", code: "frame_too_large", message: `frames are limited to ${maxBytes} bytes` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { type: "error", code: "bad_frame", message: "frame is not valid JSON" };
  }
  const parsed = clientFrameSchema.safeParse(raw);
  const id = typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined;
  const echoId = typeof id === "string" || typeof id === "number" ? id : undefined;
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    return { type: "error", id: echoId, code: "bad_frame", message: `${where}${issue?.message ?? "invalid frame"}` };
  }
  const frame = parsed.data;
  if ("channel" in frame && !PROTOCOL.channelPattern.test(frame.channel)) {
    return { type: "error", id: echoId, code: "bad_channel", message: "channel names are 1-200 characters of letters, digits and _ . : @ -" };
  }
  return frame;
}
