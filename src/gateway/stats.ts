import { Counter, Gauge, Registry } from "prom-client";
import type { CacheMode } from "./broker.ts";
import type { DropReason } from "./client.ts";
import type { ErrorCode } from "./protocol.ts";

/** Counts that only grow, read by the rate window and the metrics. */
export interface NodeCounters {
  accepted: number;
  refused: number;
  publishes: number;
  publishFailures: number;
  deliveries: number;
}

export interface Rates {
  publishes_per_s: number;
  deliveries_per_s: number;
}

/**
 * Per-second rates over a sliding window of counter samples (publishes/s,
 * deliveries/s), cheap enough to keep on every node.
 */
export class RateWindow {
  private readonly samples: { at: number; publishes: number; deliveries: number }[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly read: () => { publishes: number; deliveries: number },
    private readonly windowMs = 10_000,
  ) {
    this.timer = setInterval(() => this.sample(), 1_000);
    this.timer.unref();
    this.sample();
  }

  rates(): Rates {
    const now = { at: Date.now(), ...this.read() };
    const first = this.samples[0] ?? now;
    const seconds = Math.max((now.at - first.at) / 1000, 1);
    return {
      publishes_per_s: round((now.publishes - first.publishes) / seconds),
      deliveries_per_s: round((now.deliveries - first.deliveries) / seconds),
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const now = Date.now();
    this.samples.push({ at: now, ...this.read() });
    while (this.samples.length > 1 && now - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** A node's Prometheus metrics; every series carries the node's id as a label. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly connections: Gauge;
  readonly accepted: Counter;
  readonly refused: Counter<"reason">;
  readonly publishes: Counter<"result">;
  readonly dropped: Counter<"reason">;
  readonly protocolErrors: Counter<"code">;
  readonly resumes: Counter<"recovered">;
  readonly subscriptions: Gauge;
  readonly channels: Gauge;
  readonly cacheLatency: Gauge;
  readonly cacheMode: Gauge<"mode">;
  readonly safeguardStuck: Gauge;

  constructor(nodeId: string, read: { deliveries: () => number }) {
    this.registry.setDefaultLabels({ node: nodeId });
    const registers = [this.registry];
    this.connections = new Gauge({ name: "pulseboard_gateway_connections", help: "Open client connections (WebSocket and SSE)", registers });
    this.accepted = new Counter({ name: "pulseboard_gateway_connections_accepted_total", help: "Connections let in by the safeguard", registers });
    this.refused = new Counter({ name: "pulseboard_gateway_connections_refused_total", help: "Connections refused by the safeguard", labelNames: ["reason"], registers });
    this.publishes = new Counter({ name: "pulseboard_gateway_publishes_total", help: "Publish requests by result", labelNames: ["result"], registers });
    let reported = 0;
    new Counter({
      name: "pulseboard_gateway_deliveries_total",
      help: "Messages handed to subscribers (live and replayed)",
      registers,
      collect() {
        const now = read.deliveries();
        this.inc(now - reported);
        reported = now;
      },
    });
    this.dropped = new Counter({ name: "pulseboard_gateway_clients_dropped_total", help: "Clients disconnected by the node", labelNames: ["reason"], registers });
    this.protocolErrors = new Counter({ name: "pulseboard_gateway_protocol_errors_total", help: "Error frames sent, by code", labelNames: ["code"], registers });
    this.resumes = new Counter({ name: "pulseboard_gateway_resumes_total", help: "Subscribes with since, by whether nothing was missed", labelNames: ["recovered"], registers });
    this.subscriptions = new Gauge({ name: "pulseboard_gateway_subscriptions", help: "Channel subscriptions held by clients", registers });
    this.channels = new Gauge({ name: "pulseboard_gateway_channels", help: "Channels with at least one subscriber on this node", registers });
    this.cacheLatency = new Gauge({ name: "pulseboard_gateway_cache_latency_seconds", help: "Round trip of the last cache PING", registers });
    this.cacheMode = new Gauge({ name: "pulseboard_gateway_cache_mode", help: "1 for the cache mode in force", labelNames: ["mode"], registers });
    this.safeguardStuck = new Gauge({ name: "pulseboard_gateway_safeguard_stuck", help: "1 while the safeguard refuses clients with room to spare", registers });
  }

  drop(reason: DropReason): void {
    this.dropped.inc({ reason });
  }

  error(code: ErrorCode): void {
    this.protocolErrors.inc({ code });
  }

  mode(mode: CacheMode): void {
    this.cacheMode.set({ mode: "normal" }, mode === "normal" ? 1 : 0);
    this.cacheMode.set({ mode: "bypass" }, mode === "bypass" ? 1 : 0);
  }
}
