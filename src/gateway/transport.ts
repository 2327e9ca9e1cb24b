import type { ServerResponse } from "node:http";
import type { WebSocket } from "ws";
import type { ServerFrame } from "./protocol.ts";

/**
 * One message of one channel as it travels through a node: serialized once
 * (the whole `message` frame) and handed to every subscriber as is.
 */
export interface Delivery {
  epoch: string;
  offset: number;
  /** The complete `{"type":"message",…}` frame. */
  text: string;
  /** `text` as bytes, made once on first send and shared by every socket. */
  bytes?: Buffer;
}

export function serialOf(delivery: Delivery): string {
  return `${delivery.epoch}:${delivery.offset}`;
}

/** How frames reach one client: a WebSocket, or an SSE response. */
export interface Transport {
  readonly kind: "ws" | "sse";
  control(frame: ServerFrame): void;
  deliver(delivery: Delivery): void;
  /** Bytes accepted for this client but not yet written to its socket. */
  bufferedBytes(): number;
  /** A clean close with a code (WebSocket) or the end of the stream (SSE). */
  close(code: number, reason: string): void;
  /** Drops the connection at once. */
  terminate(): void;
}

export class WsTransport implements Transport {
  readonly kind = "ws";

  constructor(readonly ws: WebSocket) {}

  control(frame: ServerFrame): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  deliver(delivery: Delivery): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    delivery.bytes ??= Buffer.from(delivery.text);
    this.ws.send(delivery.bytes, { binary: false });
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Server-sent events: control frames are events named by their type; messages
 * are unnamed events whose id is the serial, so EventSource's Last-Event-ID
 * resumes where the stream broke off.
 */
export class SseTransport implements Transport {
  readonly kind = "sse";

  constructor(readonly res: ServerResponse) {}

  control(frame: ServerFrame): void {
    this.write(`event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`);
  }

  deliver(delivery: Delivery): void {
    this.write(`id: ${serialOf(delivery)}\ndata: ${delivery.text}\n\n`);
  }

  /** A comment line keeps proxies from closing an idle stream. */
  keepAlive(): void {
    this.write(": ping\n\n");
  }

  bufferedBytes(): number {
    return this.res.writableLength;
  }

  close(): void {
    this.res.end();
  }

  terminate(): void {
    this.res.destroy();
  }

  private write(text: string): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(text);
  }
}
