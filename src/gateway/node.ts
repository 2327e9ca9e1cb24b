import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { describeError, openFileLimit, type Logger } from "../core/index.ts";
import type { CacheMode, HistorySettings } from "./broker.ts";
import { CacheModes, type RelayedMessage, type SwitchStep } from "./cache-modes.ts";
import { CacheMonitor, type CacheHealth } from "./cache-monitor.ts";
import type { ChannelHub } from "./channels.ts";
import { Client, type ClientHooks, type ClientLimits } from "./client.ts";
import { handlePublishRequest, handleSse, type HttpTransportContext } from "./http-transport.ts";
import { PROTOCOL, parseClientFrame, type ClientFrame } from "./protocol.ts";
import { KeyedRateLimiter } from "../core/index.ts";
import { LoadShedder } from "./load-shedder.ts";
import { Safeguard, type SafeguardHealth } from "./safeguard.ts";
import { NodeMetrics, RateWindow, type Rates } from "./stats.ts";
import { WsTransport, type Transport } from "./transport.ts";
import { FaultsDisabled, type Fault } from "./faults.ts";

export { FaultsDisabled, type Fault };

export interface GatewayLimits {
  /** Undefined: as many as the open-file limit allows. */
  maxConnections?: number;
  maxPayload: number;
  maxBuffered: number;
  publishRate: number;
  publishBurst: number;
  maxSubscriptions: number;
}

export interface GatewayNodeOptions {
  /** Stable id of this node within the fleet (`node-0`, …). */
  nodeId: string;
  /** Shared port of the fleet (cluster-shared when run under the fleet). */
  port: number;
  /** This node's own port, so it can be reached alone; 0 picks a free one. */
  ownPort?: number;
  host?: string;
  /** Interval of the server's pings, in ms; a peer silent for two is dropped. */
  heartbeatMs: number;
  limits: GatewayLimits;
  history: HistorySettings;
  /** The cache Redis; without it the node can only run in `bypass` mode. */
  cache?: { url: import("../core/index.ts").RedisTarget; prefix: string; timeoutMs: number };
  /** The cache mode to start in. @defaultValue "normal" when a cache is configured */
  mode?: CacheMode;
  /** Whether fault injection is allowed (tests, demos, chaos). */
  faults?: boolean;
  /**
   * In `bypass` mode (and while the fleet switches cache mode), hands each
   * message published here to the other nodes (the local fleet relays it
   * through its primary process), so delivery still crosses nodes without
   * the cache.
   */
  relay?: (message: RelayedMessage) => void;
  log: Logger;
}

export interface NodeStats {
  node: string;
  pid: number;
  mode: CacheMode;
  connections: number;
  subscriptions: number;
  channels: number;
  accepted: number;
  refusals: number;
  publishes: number;
  publish_failures: number;
  deliveries: number;
  rates: Rates;
  cache: CacheHealth | null;
  safeguard: SafeguardHealth;
  faults: string[];
  /** The event loop's delay p99 over the last second; publishes are refused while it is high. */
  event_loop_delay_ms: number;
  /** `closed` while the fleet sends new clients of the shared port to other nodes (this one is full). */
  intake: "open" | "closed";
  uptime_s: number;
}

type PublishOutcome = { ok: true; serial: string } | { ok: false; reason: "dropped" | "cache_unavailable"; message: string };

/** Abuse bounds: this many error frames within the window close a client with 1008. */
const ABUSE_ERRORS = 20;
const ABUSE_WINDOW_MS = 10_000;

/**
 * One gateway node: WebSocket pub/sub on /ws, SSE on /sse and /publish, with
 * serials, resume, cross-node fan-out through the cache (or node-local in
 * bypass mode), a connection safeguard, per-client limits and backpressure.
 */
export class GatewayNode {
  private readonly servers: http.Server[] = [];
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private readonly modes: CacheModes;
  private readonly hub: ChannelHub;
  /** The listener on the fleet's shared port, while the node takes new clients from it. */
  private shared?: http.Server;
  private readonly safeguard: Safeguard;
  private readonly metrics: NodeMetrics;
  private readonly rates: RateWindow;
  private readonly monitor?: CacheMonitor;
  private readonly clientLimits: ClientLimits;
  private readonly hooks: ClientHooks;
  private readonly publishLimiter: KeyedRateLimiter;
  private readonly shedder = new LoadShedder();
  private readonly httpContext: HttpTransportContext;
  private readonly counters = { accepted: 0, refused: 0, publishes: 0, publishFailures: 0 };
  private readonly faultUntil = { slowHandshake: 0, dropPublishes: 0 };
  private slowHandshakeMs = 0;
  private heartbeat?: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private readonly log: Logger;

  constructor(private readonly options: GatewayNodeOptions) {
    this.log = options.log.child({ module: "gateway.node", node: options.nodeId });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: PROTOCOL.hardMaxFrameBytes, perMessageDeflate: false });
    this.safeguard = new Safeguard(effectiveLimit(options.limits.maxConnections, this.log));
    const mode = options.mode ?? (options.cache ? "normal" : "bypass");
    this.modes = new CacheModes({ cache: options.cache, history: options.history, mode, relay: options.relay, log: this.log });
    this.hub = this.modes.hub;
    this.metrics = new NodeMetrics(options.nodeId, { deliveries: () => this.hub.stats.deliveries });
    this.metrics.mode(this.modes.mode);
    this.rates = new RateWindow(() => ({ publishes: this.counters.publishes, deliveries: this.hub.stats.deliveries }));
    if (options.cache) this.monitor = new CacheMonitor(options.cache.url, options.cache.timeoutMs);
    this.clientLimits = {
      publishRate: options.limits.publishRate,
      publishBurst: options.limits.publishBurst,
      maxSubscriptions: options.limits.maxSubscriptions,
      maxBuffered: options.limits.maxBuffered,
      abuseErrors: ABUSE_ERRORS,
      abuseWindowMs: ABUSE_WINDOW_MS,
    };
    this.publishLimiter = new KeyedRateLimiter(options.limits.publishRate, options.limits.publishBurst);
    this.httpContext = {
      nodeId: options.nodeId,
      hub: this.hub,
      maxPayload: options.limits.maxPayload,
      heartbeatMs: options.heartbeatMs,
      publishLimiter: this.publishLimiter,
      admit: () => this.admit(),
      register: (transport) => this.register(transport),
      unregister: (client) => this.unregister(client),
      publish: (channel, data) => this.publishData(channel, data),
    };
    this.hooks = {
      dropped: (client, reason) => {
        this.metrics.drop(reason);
        if (reason !== "drain" && reason !== "shutdown") this.log.info({ connection: client.id, reason }, "client disconnected by the node");
      },
      errorSent: (code) => this.metrics.error(code),
    };
  }

  /** Starts listening; resolves with the ports actually bound. */
  async start(): Promise<{ port: number; ownPort?: number }> {
    await this.modes.ready().catch((err: unknown) => this.log.warn({ err: describeError(err) }, "cache not reachable at start; publishes fail until it is"));
    const port = await this.listen({ port: this.options.port, host: this.options.host });
    this.shared = this.servers.at(-1);
    let ownPort: number | undefined;
    if (this.options.ownPort !== undefined) ownPort = await this.listen({ port: this.options.ownPort, host: this.options.host, exclusive: true });
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
    return { port, ownPort };
  }

  /**
   * Stops taking new clients and closes the ones it has with `code` (1012:
   * restarting, reconnect elsewhere; 1001: going away). Resolves with how many
   * clients were closed, once they are gone or after a second.
   */
  async drain(code = 1012): Promise<number> {
    for (const server of this.servers) if (server.listening) server.close();
    const clients = [...this.clients];
    const reason = code === 1012 ? "node restarting; reconnect" : "node shutting down";
    for (const client of clients) client.drop(code === 1012 ? "drain" : "shutdown", code, reason);
    const deadline = Date.now() + 1_000;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const client of this.clients) client.transport.terminate();
    return clients.length;
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.drain(1001);
    for (const server of this.servers) server.closeAllConnections();
    this.rates.stop();
    this.publishLimiter.stop();
    this.shedder.stop();
    this.monitor?.close();
    await this.modes.close();
  }

  /**
   * Switches this node's cache mode on its own (a node outside a fleet); no
   * connection is dropped. Switching to `normal` fails (and the node stays
   * in bypass) while the cache cannot be reached.
   */
  async setCacheMode(mode: CacheMode): Promise<CacheMode> {
    if (mode === this.modes.mode) return mode;
    await this.modes.switchTo(mode);
    this.switched();
    return mode;
  }

  /**
   * One step of a switch the fleet takes every node through together (see
   * SWITCH_STEPS in cache-modes.ts); the mode is reported once `finish` ran.
   */
  async cacheModeStep(mode: CacheMode, step: SwitchStep, generation: number): Promise<CacheMode> {
    const before = this.modes.mode;
    await this.modes.step(mode, step, generation);
    if (this.modes.mode !== before) this.switched();
    return this.modes.mode;
  }

  /** Connections, the limit, and whether the shared port's intake is open: the fleet's liveness ping. */
  load(): { connections: number; limit: number; intake: boolean } {
    return { connections: this.clients.size, limit: this.safeguard.health(this.clients.size).limit, intake: this.shared !== undefined };
  }

  /**
   * Opens or closes this node's intake from the fleet's shared port. The
   * fleet closes it while the node is full and another node has room, so new
   * clients go there instead of being refused here; clients already
   * connected, and the node's own port, are not touched.
   */
  async setIntake(open: boolean): Promise<boolean> {
    if (open && !this.shared) {
      await this.listen({ port: this.options.port, host: this.options.host });
      this.shared = this.servers.at(-1);
      this.log.info("taking new clients from the shared port again");
    } else if (!open && this.shared) {
      const server = this.shared;
      this.shared = undefined;
      server.close();
      this.servers.splice(this.servers.indexOf(server), 1);
      this.log.info({ connections: this.clients.size }, "full: new clients of the shared port go to the other nodes");
    }
    return this.shared !== undefined;
  }

  /** A message another node of the fleet published while the fleet bypasses its cache, or switches cache mode. */
  relayed(message: RelayedMessage): void {
    this.modes.relayed(message);
  }

  /** Throws unless the node was started with fault injection enabled. */
  checkFaultsEnabled(): void {
    if (!this.options.faults) throw new FaultsDisabled();
  }

  /** Injects a fault; refused unless the node was started with faults enabled. */
  fault(fault: Fault): void {
    this.checkFaultsEnabled();
    const until = Date.now() + ("ms" in fault ? fault.ms : 0);
    if (fault.fault === "clear") this.log.info("faults cleared");
    else this.log.warn({ fault: fault.fault, ...("ms" in fault ? { for_ms: fault.ms } : {}) }, "fault injected");
    switch (fault.fault) {
      case "freeze":
        // The event loop stops: no frame, ping or admin request is answered until it ends.
        while (Date.now() < until) {
          // spin
        }
        return;
      case "lock-safeguard":
        this.safeguard.lock(fault.ms);
        return;
      case "slow-handshake":
        this.faultUntil.slowHandshake = until;
        this.slowHandshakeMs = fault.delayMs;
        return;
      case "drop-publishes":
        this.faultUntil.dropPublishes = until;
        return;
      case "clear":
        this.safeguard.unlock();
        this.faultUntil.slowHandshake = 0;
        this.faultUntil.dropPublishes = 0;
        return;
    }
  }

  stats(): NodeStats {
    const now = Date.now();
    const safeguard = this.safeguard.health(this.clients.size);
    let subscriptions = 0;
    for (const client of this.clients) subscriptions += client.subscriptions.size;
    const faults = [
      safeguard.locked ? "lock-safeguard" : "",
      now < this.faultUntil.slowHandshake ? "slow-handshake" : "",
      now < this.faultUntil.dropPublishes ? "drop-publishes" : "",
    ].filter(Boolean);
    return {
      node: this.options.nodeId,
      pid: process.pid,
      mode: this.modes.mode,
      connections: this.clients.size,
      subscriptions,
      channels: this.hub.size,
      accepted: this.counters.accepted,
      refusals: this.counters.refused,
      publishes: this.counters.publishes,
      publish_failures: this.counters.publishFailures,
      deliveries: this.hub.stats.deliveries,
      rates: this.rates.rates(),
      cache: this.monitor?.health() ?? null,
      safeguard,
      faults,
      event_loop_delay_ms: this.shedder.delayMs,
      intake: this.shared ? "open" : "closed",
      uptime_s: Math.round((now - this.startedAt) / 1000),
    };
  }

  /** The node's metrics, as prom-client JSON (the fleet aggregates them). */
  async metricsJson() {
    const stats = this.stats();
    this.metrics.connections.set(stats.connections);
    this.metrics.subscriptions.set(stats.subscriptions);
    this.metrics.channels.set(stats.channels);
    this.metrics.safeguardStuck.set(stats.safeguard.stuck ? 1 : 0);
    if (stats.cache?.latency_ms != null) this.metrics.cacheLatency.set(stats.cache.latency_ms / 1000);
    return this.metrics.registry.getMetricsAsJSON();
  }

  private switched(): void {
    this.metrics.mode(this.modes.mode);
    this.log.warn({ mode: this.modes.mode }, "cache mode switched");
  }

  private listen(options: { port: number; host?: string; exclusive?: boolean }): Promise<number> {
    const server = http.createServer((req, res) => this.http(req, res));
    server.on("upgrade", (req, socket, head) => {
      if (new URL(req.url ?? "/", "http://x").pathname !== "/ws") {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
        return;
      }
      const upgrade = (): void => this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
      if (Date.now() < this.faultUntil.slowHandshake) setTimeout(upgrade, this.slowHandshakeMs);
      else upgrade();
    });
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(options, () => resolve((server.address() as AddressInfo).port));
    });
  }

  private http(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/healthz" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(this.stats()));
      return;
    }
    if (url.pathname === "/sse") return handleSse(req, res, url, this.httpContext);
    if (url.pathname === "/publish") return void handlePublishRequest(req, res, this.httpContext);
    res.writeHead(404, { "content-type": "text/plain" }).end("not found: WebSocket clients connect to /ws, SSE clients to /sse\n");
  }

  /** Asks the safeguard whether one more client may come in. */
  private admit(): ReturnType<Safeguard["admit"]> {
    const admission = this.safeguard.admit(this.clients.size);
    if (admission.ok) {
      this.counters.accepted++;
      this.metrics.accepted.inc();
    } else {
      this.counters.refused++;
      this.metrics.refused.inc({ reason: admission.reason });
    }
    return admission;
  }

  private register(transport: Transport): Client {
    const client = new Client(transport, this.clientLimits, this.hooks);
    this.clients.add(client);
    return client;
  }

  private unregister(client: Client): void {
    client.closed = true;
    this.clients.delete(client);
    this.hub.dropClient(client);
  }

  private accept(ws: WebSocket): void {
    const admission = this.admit();
    if (!admission.ok) {
      const reason = admission.reason === "locked" ? "the node refuses new connections" : "the node is at its connection limit";
      ws.send(JSON.stringify({ type: "error", code: "over_capacity", message: `${reason}; retry in ${admission.retryAfterMs} ms`, retry_after_ms: admission.retryAfterMs }));
      ws.close(1013, `over capacity; retry after ${admission.retryAfterMs} ms`);
      setTimeout(() => ws.terminate(), 1_000).unref();
      return;
    }
    const client = this.register(new WsTransport(ws));
    ws.on("pong", () => (client.missedPongs = 0));
    ws.on("message", (data, isBinary) => {
      if (isBinary) client.refuse("bad_frame", "frames are JSON text, not binary");
      else this.onFrame(client, data.toString());
    });
    ws.on("close", () => this.unregister(client));
    ws.on("error", (err) => this.log.debug({ err: err.message, connection: client.id }, "client socket error"));
    client.control({ type: "welcome", node: this.options.nodeId, connection: client.id, heartbeat: this.options.heartbeatMs });
  }

  private onFrame(client: Client, text: string): void {
    const frame = parseClientFrame(text, this.options.limits.maxPayload);
    switch (frame.type) {
      case "error":
        client.refuse(frame.code, frame.message, frame.id);
        return;
      case "ping":
        client.control({ type: "pong", id: frame.id });
        return;
      case "subscribe":
        if (!client.subscriptions.has(frame.channel) && client.subscriptions.size >= this.options.limits.maxSubscriptions) {
          client.refuse("too_many_subscriptions", `a connection may subscribe to at most ${this.options.limits.maxSubscriptions} channels`, frame.id);
          return;
        }
        void this.hub.subscribe(client, frame.channel, frame.since, frame.id);
        return;
      case "unsubscribe":
        this.hub.unsubscribe(client, frame.channel);
        client.control({ type: "unsubscribed", channel: frame.channel, id: frame.id });
        return;
      case "publish":
        void this.publishFrame(client, frame);
        return;
    }
  }

  private async publishFrame(client: Client, frame: Extract<ClientFrame, { type: "publish" }>): Promise<void> {
    const load = this.shedder.check();
    if (load.overloaded) {
      client.control({
        type: "error",
        id: frame.id,
        code: "overloaded",
        message: `the node is behind on delivering (event loop delay ${load.delayMs} ms); publish again in ${load.retryAfterMs} ms`,
        retry_after_ms: load.retryAfterMs,
      });
      this.metrics.publishes.inc({ result: "overloaded" });
      return;
    }
    if (!client.takePublish()) {
      client.refuse("rate_limited", `publishes are limited to ${this.options.limits.publishRate} per second per connection`, frame.id);
      this.metrics.publishes.inc({ result: "rate_limited" });
      return;
    }
    const outcome = await this.publishData(frame.channel, frame.data);
    if (outcome.ok) client.control({ type: "ack", id: frame.id, serial: outcome.serial });
    else if (outcome.reason === "cache_unavailable") client.fail("cache_unavailable", outcome.message, frame.id);
  }

  /** Publishes through the broker; the outcome says what to tell the publisher. */
  private async publishData(channel: string, data: unknown): Promise<PublishOutcome> {
    if (Date.now() < this.faultUntil.dropPublishes) {
      this.metrics.publishes.inc({ result: "dropped" });
      return { ok: false, reason: "dropped", message: "dropped by an injected fault" };
    }
    try {
      const delivery = await this.hub.publish(channel, JSON.stringify(data ?? null));
      this.counters.publishes++;
      this.metrics.publishes.inc({ result: "ok" });
      return { ok: true, serial: `${delivery.epoch}:${delivery.offset}` };
    } catch (err) {
      this.counters.publishFailures++;
      this.metrics.publishes.inc({ result: "cache_unavailable" });
      return { ok: false, reason: "cache_unavailable", message: `publish failed: ${describeError(err)}` };
    }
  }

  /** Pings every WebSocket client; one silent for two intervals is terminated. */
  private beat(): void {
    for (const client of this.clients) {
      const transport = client.transport;
      if (!(transport instanceof WsTransport)) {
        (transport as { keepAlive?: () => void }).keepAlive?.();
        continue;
      }
      if (client.missedPongs >= 2) {
        this.metrics.drop("heartbeat");
        client.closed = true;
        transport.terminate();
        continue;
      }
      client.missedPongs++;
      transport.ws.ping();
    }
  }
}

/** Files a node needs besides its clients' sockets: listeners, Redis, logs, the runtime. */
const FILE_RESERVE = 256;

/**
 * The connection limit the safeguard can keep: past the process's open-file
 * limit a new socket cannot even be accepted, so the client would hang or be
 * dropped without the 1013 and retry hint it is owed.
 */
function effectiveLimit(configured: number | undefined, log: Logger): number {
  const files = openFileLimit();
  if (configured === undefined) return files === undefined ? 20_000 : Math.max(1, files - FILE_RESERVE);
  if (files === undefined || configured <= files - FILE_RESERVE) return configured;
  const limit = Math.max(1, files - FILE_RESERVE);
  log.warn({ configured, openFileLimit: files, limit }, "max_connections is above what the open-file limit allows; refusing new clients past this lower limit");
  return limit;
}
