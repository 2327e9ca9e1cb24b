import { startRedis } from "../redis.ts";
import { startTestNode } from "../gateway.ts";
import type { BrokerHarness } from "./types.ts";

/**
 * Our own gateway as the conformance suite drives every broker: two real
 * gateway nodes on their own ports sharing a real cache redis-server, so a
 * message published on one crosses to the other through Redis. The nodes
 * run in the test's process (their fleet runs them as cluster workers);
 * `kill()` stops them at once, dropping every client.
 */
export async function startPulseboardGateway(): Promise<BrokerHarness> {
  const redis = await startRedis();
  const nodes = [await startTestNode({ index: 0, cacheUrl: redis.url }), await startTestNode({ index: 1, cacheUrl: redis.url })];
  let stopped = false;
  const stopNodes = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.node.stop()));
  };
  return {
    protocol: "pulseboard",
    settings: { protocol: "pulseboard", url: nodes[0]!.url },
    nodes: nodes.map((n) => n.url),
    resume: true,
    kill: stopNodes,
    async stop() {
      await stopNodes();
      await redis.stop();
    },
  };
}
