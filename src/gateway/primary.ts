import type { GatewayConfig } from "../config/index.ts";
import type { Logger, RedisTarget, Stoppable } from "../core/index.ts";
import { startFleetAdmin } from "./fleet-admin.ts";
import { GatewayFleet } from "./fleet.ts";

/** What `pulseboard start` sends its gateway's primary over IPC, each time it starts it. */
export interface PrimarySettings {
  gateway: GatewayConfig;
  /** The cache Redis: a URL or a Sentinel group. */
  cacheUrl?: RedisTarget;
  logLevel: string;
}

/**
 * The fleet's primary: forks the nodes, keeps them running and serves the
 * fleet's admin API. Loads neither the node (ws, the Redis broker) nor, under
 * `pulseboard start`, the configuration loader: what it runs with is a
 * `GatewayConfig`, from pulseboard.yaml (`pulseboard gateway`) or from start.
 */
export async function runFleetPrimary({ gateway, cacheUrl }: Omit<PrimarySettings, "logLevel">, log: Logger): Promise<Stoppable> {
  if (!cacheUrl) log.warn("no CACHE_REDIS_URL, CACHE_REDIS_SENTINELS or CACHE_REDIS_CLUSTER_NODES: the gateway runs in bypass mode (node-local fan-out and history)");
  const fleet = new GatewayFleet(gateway, cacheUrl, log);
  await fleet.start();
  const admin = await startFleetAdmin(fleet, { port: gateway.adminPort, host: gateway.adminHost, token: gateway.adminToken, log });
  return {
    async stop() {
      admin.close();
      admin.closeAllConnections();
      await fleet.stop();
    },
  };
}
