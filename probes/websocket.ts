import net from "node:net";
import tls from "node:tls";
import WebSocket from "ws";
import { z } from "zod";
import { defineProbe, ProbeFailure, type ProbeContext } from "../src/probe-runtime/index.ts";

const settingsSchema = z.strictObject({
  /** @defaultValue the managed gateway's shared URL */
  url: z.string().regex(/^wss?:\/\/[^\s]+$/, { error: "expected a WebSocket URL like ws://host:4000/ws" }).optional(),
  /** Channel to publish on and expect the message back from; null only connects. */
  channel: z.string().min(1).max(200).nullable().default("pulseboard.probe"),
});

/**
 * Opens a WebSocket to the gateway the way a browser would, waits for its
 * welcome frame, then publishes on a channel and waits for the message to
 * come back. Phases: connect (TCP), upgrade (HTTP 101), welcome, subscribe,
 * echo. A connect that never finishes is the "Connecting…" popup users saw.
 */
export default defineProbe({
  kind: "websocket",
  description: "WebSocket connect, welcome frame and publish → echo through the gateway",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const url = settings.url ?? ctx.targets.gatewayUrl;
    const session = new Session(url, ctx);
    try {
      await session.open();
      const welcome = await ctx.phase("welcome", () => session.nextFrame((f) => f.type === "welcome"));
      const details: Record<string, unknown> = { url, node: welcome.node };
      if (settings.channel === null) return { status: "ok", details };
      const channel = settings.channel;
      await ctx.phase("subscribe", async () => {
        session.send({ type: "subscribe", channel, id: "s1" });
        await session.nextFrame((f) => (f.type === "subscribed" && f.channel === channel) || (f.type === "error" && f.id === "s1"));
      });
      const nonce = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      await ctx.phase("echo", async () => {
        session.send({ type: "publish", channel, data: { probe: nonce }, id: "p1" });
        await session.nextFrame(
          (f) => (f.type === "message" && f.channel === channel && isNonce(f.data, nonce)) || (f.type === "error" && f.id === "p1"),
        );
      });
      return { status: "ok", details: { ...details, channel } };
    } finally {
      session.close();
    }
  },
});

type Frame = { type?: string; channel?: string; id?: string; data?: unknown; node?: string; code?: string; message?: string };

function isNonce(data: unknown, nonce: string): boolean {
  return typeof data === "object" && data !== null && (data as { probe?: unknown }).probe === nonce;
}

/**
 * One probe connection. Every event (TCP connect, upgrade, frame, close,
 * error, deadline) wakes whatever phase is waiting, which then re-checks.
 */
class Session {
  private ws?: WebSocket;
  private readonly frames: Frame[] = [];
  private wakeups: (() => void)[] = [];
  private connected = false;
  private upgraded = false;
  private failure?: Error;

  constructor(
    private readonly url: string,
    private readonly ctx: ProbeContext,
  ) {
    ctx.signal.addEventListener("abort", () => this.wake(), { once: true });
  }

  async open(): Promise<void> {
    const secure = this.url.startsWith("wss:");
    const ws = new WebSocket(this.url, {
      handshakeTimeout: this.ctx.timeoutMs,
      perMessageDeflate: false,
      createConnection: (options: net.NetConnectOpts & tls.ConnectionOptions) => {
        const socket = secure ? tls.connect(options) : net.connect(options);
        socket.once(secure ? "secureConnect" : "connect", () => this.wake(() => (this.connected = true)));
        return socket;
      },
    } as WebSocket.ClientOptions);
    this.ws = ws;
    ws.on("open", () => this.wake(() => (this.upgraded = true)));
    ws.on("message", (raw) => this.wake(() => this.push(raw.toString())));
    ws.on("close", (code, reason) =>
      this.wake(() => (this.failure ??= new ProbeFailure(`connection closed by the gateway (${code}${reason.length ? ` ${reason.toString()}` : ""})`))),
    );
    ws.on("error", (err) => this.wake(() => (this.failure ??= explain(err, this.url))));
    await this.ctx.phase("connect", () => this.waitFor(() => this.connected || undefined));
    await this.ctx.phase("upgrade", () => this.waitFor(() => this.upgraded || undefined));
  }

  send(frame: Frame): void {
    this.ws?.send(JSON.stringify(frame));
  }

  /** Resolves with the next frame matching `match`; an error frame for our request fails. */
  async nextFrame(match: (frame: Frame) => boolean): Promise<Frame> {
    const frame = await this.waitFor(() => {
      const index = this.frames.findIndex(match);
      return index >= 0 ? this.frames.splice(index, 1)[0] : undefined;
    });
    if (frame.type === "error") throw new ProbeFailure(`gateway answered ${frame.code}: ${frame.message}`);
    return frame;
  }

  close(): void {
    const ws = this.ws;
    if (!ws) return;
    ws.removeAllListeners();
    ws.on("error", () => {});
    ws.terminate();
  }

  private push(text: string): void {
    try {
      this.frames.push(JSON.parse(text) as Frame);
    } catch {
      this.failure ??= new ProbeFailure(`gateway sent a frame that is not JSON: ${text.slice(0, 80)}`);
    }
  }

  private wake(change?: () => unknown): void {
    change?.();
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }

  private async waitFor<T>(check: () => T | undefined): Promise<T> {
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (this.failure) throw this.failure;
      if (this.ctx.signal.aborted) throw new ProbeFailure("aborted at the deadline");
      await new Promise<void>((resolve) => this.wakeups.push(resolve));
    }
  }
}

function explain(err: Error, url: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const host = new URL(url).host;
  switch (code) {
    case "ECONNREFUSED":
      return new ProbeFailure(`connection refused by ${host}: nothing is listening, or it refuses new clients`);
    case "ECONNRESET":
      return new ProbeFailure(`connection reset by ${host}`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ProbeFailure(`cannot resolve the host of ${url}`);
    default:
      if (/Unexpected server response: (\d+)/.test(err.message)) {
        return new ProbeFailure(`${host} refused the WebSocket upgrade (${err.message.replace("Unexpected server response: ", "HTTP ")})`);
      }
      return new ProbeFailure(err.message);
  }
}
