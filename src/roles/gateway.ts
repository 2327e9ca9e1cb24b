import { GatewayFleet, isFleetPrimary, runFleetNode } from "../gateway/index.ts";
import { announceReady, type Role, type RoleContext } from "./context.ts";

/**
 * The gateway role. In the cluster primary it runs the fleet; in each cluster
 * worker (same entry point, forked by the fleet) it runs one node.
 */
export async function runGateway({ config, log }: RoleContext): Promise<Role | undefined> {
  const options = {
    port: config.gateway.port,
    nodePortBase: config.gateway.nodePortBase,
    host: config.gateway.host,
    heartbeatMs: config.gateway.heartbeat,
    log,
  };
  if (!isFleetPrimary()) {
    runFleetNode(options);
    return undefined;
  }
  const fleet = new GatewayFleet({ ...options, nodes: config.gateway.nodes });
  await fleet.start();
  announceReady("gateway", { port: config.gateway.port, nodes: config.gateway.nodes });
  return { stop: () => fleet.stop() };
}
