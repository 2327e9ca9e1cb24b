/**
 * One client connection as a load process sees it, for either server:
 * subscribe, publish, messages in, close. Plus the pacing every job uses.
 */
import { io } from "socket.io-client";
import WebSocket from "ws";
import type { System } from "./shared.ts";

const REQUEST_TIMEOUT_MS = 15_000;

/** What publishers put in `data`: send time (for latency), sequence, filler. */
export interface Payload {
  t: number;
  n: number;
  x?: string;
}

/** One client connection, whichever server it talks to. */
export interface Conn {
  subscribe(channel: string, since?: string): Promise<{ serial?: string; recovered?: boolean }>;
  publish(channel: string, data: Payload): Promise<void>;
  close(abrupt: boolean): void;
  onMessage: (channel: string, data: Payload, serial: string | undefined) => void;
  onClose: () => void;
}

/** Opens one client connection from `localAddress`; resolves once it is open (ours) or connected (Socket.IO). */
export function connect(system: System, url: string, localAddress: string): Promise<Conn> {
  return system === "ours" ? connectOurs(url, localAddress) : connectSocketIo(url, localAddress);
}

/** Our protocol: JSON frames, replies matched to requests by `id`. */
function connectOurs(url: string, localAddress: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, handshakeTimeout: REQUEST_TIMEOUT_MS, perMessageDeflate: false });
    type Reply = Record<string, unknown>;
    const pending = new Map<number, { resolve: (f: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
    let nextId = 1;
    let opened = false;
    const request = (frame: Record<string, unknown>): Promise<Reply> =>
      new Promise((res, rej) => {
        if (ws.readyState !== WebSocket.OPEN) return rej(new Error("socket not open"));
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          rej(new Error(`no reply to ${String(frame.type)} within ${REQUEST_TIMEOUT_MS} ms`));
        }, REQUEST_TIMEOUT_MS);
        pending.set(id, { resolve: res, reject: rej, timer });
        ws.send(JSON.stringify({ ...frame, id }));
      });
    const conn: Conn = {
      async subscribe(channel, since) {
        const reply = await request({ type: "subscribe", channel, since });
        return { serial: reply.serial as string, recovered: reply.recovered as boolean };
      },
      async publish(channel, data) {
        await request({ type: "publish", channel, data });
      },
      close: (abrupt) => (abrupt ? ws.terminate() : ws.close(1000)),
      onMessage: () => {},
      onClose: () => {},
    };
    ws.on("message", (raw) => {
      const frame = JSON.parse(raw.toString()) as Record<string, unknown>;
      if (frame.type === "message") return conn.onMessage(frame.channel as string, frame.data as Payload, frame.serial as string);
      // The welcome frame, and errors about nothing we asked (over capacity: a close follows).
      if (typeof frame.id !== "number") return;
      const waiter = pending.get(frame.id);
      if (!waiter) return;
      pending.delete(frame.id);
      clearTimeout(waiter.timer);
      if (frame.type === "error") waiter.reject(new Error(`${String(frame.code)}: ${String(frame.message)}`));
      else waiter.resolve(frame);
    });
    ws.once("open", () => {
      opened = true;
      resolve(conn);
    });
    ws.on("error", (err) => {
      if (!opened) reject(err);
    });
    ws.once("close", (code) => {
      for (const waiter of pending.values()) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`closed (${code})`));
      }
      pending.clear();
      if (!opened) reject(new Error(`closed (${code}) before it opened`));
      else conn.onClose();
    });
  });
}

/** Socket.IO with the websocket transport only, one Manager per client (forceNew) and no reconnection of its own. */
function connectSocketIo(url: string, localAddress: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    // engine.io-client hands localAddress to ws although its types do not list it.
    const options = { transports: ["websocket"], forceNew: true, reconnection: false, timeout: REQUEST_TIMEOUT_MS, localAddress };
    const socket = io(url, options);
    const ask = (event: string, body: unknown): Promise<unknown> =>
      new Promise((res, rej) => socket.timeout(REQUEST_TIMEOUT_MS).emit(event, body, (err: Error | null, reply: unknown) => (err ? rej(err) : res(reply))));
    const conn: Conn = {
      async subscribe(channel) {
        await ask("subscribe", { channel });
        return {};
      },
      async publish(channel, data) {
        await ask("publish", { channel, data });
      },
      close: () => socket.disconnect(),
      onMessage: () => {},
      onClose: () => {},
    };
    socket.on("message", (m: { channel: string; data: Payload }) => conn.onMessage(m.channel, m.data, undefined));
    socket.once("connect", () => {
      socket.on("disconnect", () => conn.onClose());
      resolve(conn);
    });
    socket.once("connect_error", (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}

/**
 * Runs task(0 … count-1), starting them at `rate` per second with at most
 * `maxPending` unfinished: connecting faster than the machine accepts would
 * measure the listen backlog, not the server.
 */
export function paced(count: number, rate: number, maxPending: number, task: (i: number) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    if (count === 0) return resolve();
    const started = Date.now();
    let next = 0;
    let pending = 0;
    let finished = 0;
    const tick = (): void => {
      const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
      while (next < due && pending < maxPending) {
        pending++;
        void task(next++).finally(() => {
          pending--;
          if (++finished === count) {
            clearInterval(timer);
            resolve();
          }
        });
      }
    };
    const timer = setInterval(tick, 5);
    tick();
  });
}
