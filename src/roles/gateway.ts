import { GatewayFleet, isFleetPrimary, runFleetNode, startFleetAdmin } from "../gateway/index.ts";
import { announceReady, type Role, type RoleContext } from "./context.ts";

/**
 * The gateway role. In the cluster primary it runs the fleet and its admin
 * API; in each cluster worker (same entry point, forked by the fleet) it runs
 * one node.
 */
export async function runGateway({ config, log }: RoleContext): Promise<Role | undefined> {
  const { gateway } = config;
  if (!isFleetPrimary()) {
    runFleetNode(gateway, config.cache.url, log);
    return undefined;
  }
  if (!config.cache.url) log.warn("no CACHE_REDIS_URL: the gateway runs in bypass mode (node-local fan-out and history)");
  const fleet = new GatewayFleet(gateway, Boolean(config.cache.url), log);
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
