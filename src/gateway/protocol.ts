import { z } from "zod";

/** Bounds on what one client may send. */
export const LIMITS = {
  /** Largest text frame accepted, in bytes. */
  maxFrameBytes: 64 * 1024,
  channelPattern: /^[A-Za-z0-9_.:@-]{1,200}$/,
} as const;

const channel = z.string().regex(LIMITS.channelPattern, {
  error: "channel names are 1-200 characters of letters, digits and _ . : @ -",
});
const requestId = z.union([z.string().max(100), z.number()]).optional();

/** Frames a client may send. */
export const clientFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("subscribe"), channel, since: z.string().max(100).optional(), id: requestId }),
  z.object({ type: z.literal("unsubscribe"), channel, id: requestId }),
  z.object({ type: z.literal("publish"), channel, data: z.unknown(), id: requestId }),
  z.object({ type: z.literal("ping"), id: requestId }),
]);
export type ClientFrame = z.output<typeof clientFrameSchema>;

type RequestId = string | number | undefined;

/** Frames the server sends. */
export type ServerFrame =
  | { type: "welcome"; node: string; connection: string; heartbeat: number }
  | { type: "subscribed"; channel: string; id?: RequestId; serial: string; recovered: boolean }
  | { type: "unsubscribed"; channel: string; id?: RequestId }
  | { type: "message"; channel: string; serial: string; data: unknown; ts: number }
  | { type: "ack"; id?: RequestId; serial: string }
  | { type: "pong"; id?: RequestId }
  | { type: "error"; id?: RequestId; code: ErrorCode; message: string };

/** Stable codes of `error` frames. */
export type ErrorCode = "bad_frame" | "frame_too_large" | "not_subscribed";

/** Parses a client frame, or returns an `error` frame that says what was wrong. */
export function parseClientFrame(text: string): ClientFrame | Extract<ServerFrame, { type: "error" }> {
  if (Buffer.byteLength(text) > LIMITS.maxFrameBytes) {
    return { type: "error", code: "frame_too_large", message: `frames are limited to ${LIMITS.maxFrameBytes} bytes` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { type: "error", code: "bad_frame", message: "frame is not valid JSON" };
  }
  const parsed = clientFrameSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const id = typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
  return {
    type: "error",
    id: typeof id === "string" || typeof id === "number" ? id : undefined,
    code: "bad_frame",
    message: `${where}${issue?.message ?? "invalid frame"}`,
  };
}
