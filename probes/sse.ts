import http from "node:http";
import https from "node:https";
import { z } from "zod";
import { BYPASS_NOTE, channelSetting, defineProbe, gatewayNodes, httpUrlSetting, ProbeFailure, probeChannel, type ProbeContext } from "../src/probe-runtime/index.ts";

const settingsSchema = z.strictObject({
  /** The gateway's HTTP side. @defaultValue the managed gateway's shared URL as http(s)://host:port */
  url: httpUrlSetting.optional(),
  /**
   * Channel name the probe's channel starts with; the probe id and location are appended.
   * @defaultValue "pulseboard.probe.sse"
   */
  channel: channelSetting.default("pulseboard.probe.sse"),
});

/** One server-sent event. */
interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/**
 * The fallback transport, as a browser without WebSocket uses it: opens
 * GET /sse on the gateway's HTTP side, waits for the `subscribed` event,
 * publishes a nonce with POST /publish and waits for it to arrive as an
 * event whose id is the serial the publish was given. Phases: connect,
 * stream (response headers), subscribed, publish, deliver. The latency is
 * publish → deliver. While the fleet bypasses its cache, the stream and the
 * publish go to one node's own port (nothing crosses nodes then), and a pass
 * is `degraded`.
 */
export default defineProbe({
  kind: "sse",
  description: "Server-sent events fallback: GET /sse, POST /publish, the message arrives with its serial as event id",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const pinned = settings.url ? undefined : await bypassNode(ctx);
    const base = new URL(settings.url ?? httpSideOf(pinned?.url ?? ctx.targets.gatewayUrl));
    const channel = probeChannel(settings.channel, ctx.probe, ctx.location);
    const stream = new SseStream(new URL(`/sse?channel=${encodeURIComponent(channel)}`, base), ctx.signal);
    try {
      await ctx.phase("connect", () => stream.until(() => stream.connected || undefined));
      await ctx.phase("stream", async () => {
        if ((await stream.until(() => stream.status)) !== 200) throw await stream.refusal();
      });
      const welcome = await ctx.phase("subscribed", async () => {
        const hello = await stream.next((e) => e.event === "welcome");
        await stream.next((e) => e.event === "subscribed");
        return JSON.parse(hello.data) as { node?: string };
      });
      const nonce = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const published = performance.now();
      const serial = await ctx.phase("publish", () => publish(new URL("/publish", base), channel, { probe: nonce }, ctx.signal));
      const event = await ctx.phase("deliver", () => stream.next((e) => e.event === "message" && carries(e, nonce)));
      if (event.id !== serial) throw new ProbeFailure(`the message arrived with event id ${JSON.stringify(event.id)}, not its serial ${serial}: EventSource could not resume from it`);
      return {
        status: pinned ? "degraded" : "ok",
        latencyMs: Math.round(performance.now() - published),
        ...(pinned ? { error: `${BYPASS_NOTE}; ${pinned.id} delivered over SSE to its own clients` } : {}),
        details: { url: base.origin, node: welcome.node, cache_bypassed: pinned !== undefined, channel, serial },
      };
    } finally {
      stream.close();
    }
  },
});

/** The node to pin the run to when the managed fleet bypasses its cache (its admin API says so); undefined otherwise. */
async function bypassNode(ctx: ProbeContext): Promise<{ id: string; url: string } | undefined> {
  if (!ctx.targets.gatewayAdmin) return undefined;
  const { nodes, bypass } = await ctx.phase("nodes", () => gatewayNodes(ctx));
  return bypass ? nodes[0] : undefined;
}

/** ws://host:port/ws → http://host:port/ (wss → https). */
function httpSideOf(gatewayUrl: string): string {
  const url = new URL(gatewayUrl);
  return `${url.protocol === "wss:" ? "https:" : "http:"}//${url.host}/`;
}

function carries(event: SseEvent, nonce: string): boolean {
  try {
    const frame = JSON.parse(event.data) as { data?: { probe?: unknown } };
    return frame.data?.probe === nonce;
  } catch {
    return false;
  }
}

/** POST /publish; resolves with the serial the gateway gave the message. */
function publish(url: URL, channel: string, data: unknown, signal: AbortSignal): Promise<string> {
  const body = JSON.stringify({ channel, data });
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? https : http).request(
      url,
      { method: "POST", agent: false, signal, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("error", reject);
        res.on("end", () => {
          const answer = parseJson(text) as { serial?: string; code?: string; message?: string } | undefined;
          if (res.statusCode === 200 && answer?.serial) return resolve(answer.serial);
          if (res.statusCode === 202) return reject(new ProbeFailure(`POST ${url.pathname} was accepted (202) but the message was not stored: the gateway is dropping publishes`));
          const why = answer?.code ? `${answer.code}: ${answer.message}` : text.slice(0, 200);
          reject(new ProbeFailure(`POST ${url.pathname} answered HTTP ${res.statusCode} (${why})`));
        });
      },
    );
    req.on("error", (err) => reject(explain(err, url)));
    req.end(body);
  });
}

/**
 * GET /sse, parsed into events as they come. Every change (socket connect,
 * headers, event, end, error, deadline) wakes whatever is waiting.
 */
class SseStream {
  connected = false;
  status?: number;
  private readonly req: http.ClientRequest;
  private res?: http.IncomingMessage;
  private readonly events: SseEvent[] = [];
  private buffer = "";
  private body = "";
  private ended = false;
  private failure?: Error;
  private wakeups: (() => void)[] = [];

  constructor(
    private readonly url: URL,
    private readonly signal: AbortSignal,
  ) {
    const secure = url.protocol === "https:";
    this.req = (secure ? https : http).get(url, { agent: false, signal, headers: { accept: "text/event-stream" } });
    this.req.on("socket", (socket) => socket.once(secure ? "secureConnect" : "connect", () => this.wake(() => (this.connected = true))));
    this.req.on("response", (res) => this.wake(() => this.onResponse(res)));
    this.req.on("error", (err) => this.wake(() => (this.failure ??= explain(err, url))));
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  async next(match: (event: SseEvent) => boolean): Promise<SseEvent> {
    const event = await this.until(() => {
      const index = this.events.findIndex((e) => match(e) || e.event === "error");
      return index >= 0 ? this.events.splice(index, 1)[0] : undefined;
    });
    if (event.event === "error") {
      const frame = parseJson(event.data) as { code?: string; message?: string } | undefined;
      throw new ProbeFailure(`${this.url.host} sent an error event: ${frame?.code ? `${frame.code}: ${frame.message}` : event.data}`);
    }
    return event;
  }

  /** The failure for a stream the gateway would not open (503 at its limit, 400, …). */
  async refusal(): Promise<ProbeFailure> {
    await this.until(() => this.ended || undefined).catch(() => undefined);
    const answer = parseJson(this.body) as { code?: string; message?: string; retry_after_ms?: number } | undefined;
    const retry = this.res?.headers["retry-after"];
    if (this.status === 503) {
      return new ProbeFailure(
        `${this.url.host} refused the SSE stream (503 ${answer?.code ?? ""}: ${answer?.message ?? this.body.slice(0, 120)})${retry ? `; it tells clients to retry after ${retry} s` : ""}`,
      );
    }
    return new ProbeFailure(`GET ${this.url.pathname} answered HTTP ${this.status}${answer?.message ? ` (${answer.message})` : ""}`);
  }

  async until<T>(check: () => T | undefined): Promise<T> {
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (this.failure) throw this.failure;
      if (this.ended) throw new ProbeFailure(`${this.url.host} ended the SSE stream`);
      if (this.signal.aborted) throw new ProbeFailure("aborted at the deadline");
      await new Promise<void>((resolve) => this.wakeups.push(resolve));
    }
  }

  close(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    this.req.destroy();
  }

  private readonly onAbort = (): void => this.wake(() => this.req.destroy());

  private onResponse(res: http.IncomingMessage): void {
    this.res = res;
    this.status = res.statusCode ?? 0;
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => this.wake(() => (this.status === 200 ? this.parse(chunk) : (this.body += chunk.slice(0, 4_096)))));
    res.on("end", () => this.wake(() => (this.ended = true)));
    res.on("error", () => this.wake(() => (this.ended = true)));
  }

  /** Splits the stream into events (a blank line ends one); comments (": ping") are skipped. */
  private parse(chunk: string): void {
    this.buffer += chunk.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event: SseEvent = { event: "message", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon === 0) continue;
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
        else if (field === "data") data.push(value);
      }
      event.data = data.join("\n");
      if (data.length > 0) this.events.push(event);
    }
  }

  private wake(change?: () => unknown): void {
    change?.();
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }
}

function explain(err: Error, url: URL): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (err.name === "AbortError") return new ProbeFailure("aborted at the deadline");
  if (code === "ECONNREFUSED") return new ProbeFailure(`connection refused by ${url.host}: nothing is listening, or it refuses new clients`);
  if (code === "ECONNRESET") return new ProbeFailure(`connection reset by ${url.host}`);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return new ProbeFailure(`cannot resolve ${url.hostname}`);
  return new ProbeFailure(`${url.host}: ${err.message}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
