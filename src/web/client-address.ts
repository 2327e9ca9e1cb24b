import type { IncomingMessage } from "node:http";

/**
 * The client's address, for rate limits: the socket's, or with `trustProxy`
 * the left-most X-Forwarded-For entry (set only behind a proxy that writes
 * that header: anyone can send it).
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers["x-forwarded-for"];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    if (first) return first.slice(0, 64);
  }
  return req.socket.remoteAddress ?? "unknown";
}
