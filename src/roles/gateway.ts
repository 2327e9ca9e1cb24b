import { GatewayFleet, startFleetAdmin } from "../gateway/index.ts";
import { announceReady, type Role, type RoleContext } from "./context.ts";

/**
 * The gateway role: the fleet (a Node cluster primary) and its admin API.
 * Each node is a cluster worker the fleet forks from its own small entry
 * point (src/gateway/node-main.ts), with its settings sent by the primary.
 */
export async function runGateway({ config, log }: RoleContext): Promise<Role> {
  const { gateway } = config;
  if (!config.cache.url) log.warn("no CACHE_REDIS_URL: the gateway runs in bypass mode (node-local fan-out and history)");
  const fleet = new GatewayFleet(gateway, config.cache.url, log);
  await fleet.start();
  const admin = await startFleetAdmin(fleet, { port: gateway.adminPort, host: gateway.adminHost, token: gateway.adminToken, log });
  announceReady("gateway", { port: gateway.port, nodes: gateway.nodes, adminPort: gateway.adminPort });
  return {
    async stop() {
      admin.close();
      admin.closeAllConnections();
      await fleet.stop();
    },
  };
}
