import type { GatewayConfig } from "../config/index.ts";
import type { Logger, RedisTarget } from "../core/index.ts";
import type { CacheMode } from "./broker.ts";
import type { GatewayNodeOptions } from "./node.ts";

/** Node options from the gateway's configuration, for node `index` of the fleet. */
export function nodeOptions(
  gateway: GatewayConfig,
  input: { index: number; cacheUrl?: RedisTarget; mode: CacheMode; log: Logger },
): GatewayNodeOptions {
  return {
    nodeId: nodeId(input.index),
    port: gateway.port,
    ownPort: gateway.nodePortBase + input.index,
    host: gateway.host,
    heartbeatMs: gateway.heartbeat,
    limits: {
      maxConnections: gateway.maxConnections,
      maxPayload: gateway.maxPayload,
      maxBuffered: gateway.maxBuffered,
      publishRate: gateway.publishRate,
      publishBurst: gateway.publishBurst,
      maxSubscriptions: gateway.maxSubscriptions,
    },
    history: { size: gateway.history.size, ttlMs: gateway.history.ttl, metaTtlMs: gateway.history.metaTtl },
    cache: input.cacheUrl ? { url: input.cacheUrl, prefix: gateway.cachePrefix, timeoutMs: gateway.cacheTimeout } : undefined,
    mode: input.mode,
    faults: gateway.faults,
    log: input.log,
  };
}

export function nodeId(index: number): string {
  return `node-${index}`;
}

/** Accepts `node-3` or `3`; undefined for anything else. */
export function parseNodeId(text: string): number | undefined {
  const match = /^(?:node-)?(\d{1,2})$/.exec(text);
  return match ? Number(match[1]) : undefined;
}
