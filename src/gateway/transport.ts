import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
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
  /** True when writes are held back until the end of the event loop's turn. */
  readonly batches: boolean;
  /**
   * Called once the writes held back this turn have been handed to the
   * socket; only then does `bufferedBytes` say what the client is behind by.
   */
  afterFlush?: () => void;
  control(frame: ServerFrame): void;
  deliver(delivery: Delivery): void;
  /** Bytes accepted for this client but not yet written to its socket. */
  bufferedBytes(): number;
  /** A clean close with a code (WebSocket) or the end of the stream (SSE). */
  close(code: number, reason: string): void;
  /** Drops the connection at once. */
  terminate(): void;
}

/**
 * Holds each socket's writes until the end of the current turn of the event
 * loop, so the frames of a burst (a fan-out, a replay) leave in one write
 * instead of one system call and one TCP segment each.
 */
class WriteBatcher {
  private readonly held: { socket: Socket; then?: () => void }[] = [];

  hold(socket: Socket | undefined, then?: () => void): void {
    if (!socket || socket.writableCorked > 0 || socket.destroyed) return;
    socket.cork();
    if (this.held.push({ socket, then }) === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    for (const { socket, then } of this.held.splice(0)) {
      while (socket.writableCorked > 0) socket.uncork();
      then?.();
    }
  }
}

const batcher = new WriteBatcher();

export class WsTransport implements Transport {
  readonly kind = "ws";
  readonly batches = true;
  afterFlush?: () => void;

  constructor(readonly ws: WebSocket) {}

  control(frame: ServerFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    batcher.hold(this.socket, this.afterFlush);
    this.ws.send(JSON.stringify(frame));
  }

  deliver(delivery: Delivery): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    delivery.bytes ??= Buffer.from(delivery.text);
    batcher.hold(this.socket, this.afterFlush);
    this.ws.send(delivery.bytes, { binary: false });
  }

  /** The TCP socket under the WebSocket (ws keeps it as `_socket`). */
  private get socket(): Socket | undefined {
    return (this.ws as unknown as { _socket?: Socket })._socket;
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
  readonly batches = false;

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
