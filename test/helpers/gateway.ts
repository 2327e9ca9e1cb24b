import type { GatewayConfig } from "../../src/config/index.ts";
import { GatewayNode, nodeOptions, type CacheMode, type GatewayNodeOptions } from "../../src/gateway/index.ts";
import type { RedisTarget } from "../../src/core/index.ts";
import { configFrom, testLog } from "./config.ts";

/** The gateway section of a config, with `yaml` (indented under `gateway:`) on top of the defaults. */
export async function gatewayConfig(yaml = ""): Promise<GatewayConfig> {
  const config = await configFrom(`locations: [{ id: local }]\ncomponents: [{ id: c, name: C }]\ngateway:\n  nodes: 1\n${yaml}`);
  return config.gateway;
}

export interface TestNode {
  node: GatewayNode;
  /** ws:// URL of the node's own port. */
  url: string;
  port: number;
  httpUrl: string;
}

/**
 * A gateway node on free ports, built from config defaults the way the fleet
 * builds its nodes; `override` adjusts the options (limits, heartbeat, …).
 */
export async function startTestNode(options: {
  index?: number;
  cacheUrl?: RedisTarget;
  mode?: CacheMode;
  yaml?: string;
  override?: (o: GatewayNodeOptions) => GatewayNodeOptions;
}): Promise<TestNode> {
  const gateway = await gatewayConfig(options.yaml);
  const base = nodeOptions(gateway, {
    index: options.index ?? 0,
    cacheUrl: options.cacheUrl,
    mode: options.mode ?? (options.cacheUrl ? "normal" : "bypass"),
    log: testLog(),
  });
  const node = new GatewayNode((options.override ?? ((o) => o))({ ...base, port: 0, ownPort: undefined, host: "127.0.0.1" }));
  const { port } = await node.start();
  return { node, port, url: `ws://127.0.0.1:${port}/ws`, httpUrl: `http://127.0.0.1:${port}` };
}
