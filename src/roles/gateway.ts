import { runFleetPrimary } from "../gateway/index.ts";
import { announceReady, type Role, type RoleContext } from "./context.ts";

/**
 * The gateway role: the fleet (a Node cluster primary) and its admin API.
 * Each node is a cluster worker the fleet forks from its own small entry
 * point (src/gateway/node-main.ts), with its settings sent by the primary.
 * `pulseboard start` runs the same primary from src/gateway/primary-main.ts
 * instead, with the settings it resolved, so the gateway's process holds no
 * configuration loader, probe kinds or channel kinds.
 */
export async function runGateway({ config, log }: RoleContext): Promise<Role> {
  const { gateway } = config;
  const primary = await runFleetPrimary({ gateway, cacheUrl: config.cache.target }, log);
  announceReady("gateway", { port: gateway.port, nodes: gateway.nodes, adminPort: gateway.adminPort });
  return primary;
}
