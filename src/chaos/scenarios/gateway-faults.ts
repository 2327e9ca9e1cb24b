import { describeError } from "../../core/index.ts";
import type { AdminNode } from "../../fleet/index.ts";
import { ChaosUsageError, type ChaosContext, type ChaosScenario } from "../types.ts";

/**
 * Injects a fault into one gateway node through the fleet admin API (which
 * must run with GATEWAY_FAULTS=1). The fault ends by itself after the
 * scenario's duration, so even a chaos run killed outright leaves nothing
 * broken for longer than that; the scenario holds until then, or until the
 * stack was repaired (a restarted node has no fault left).
 */
function faultScenario(name: string, fault: "freeze" | "lock-safeguard", description: string, what: string): ChaosScenario {
  return {
    name,
    description,
    defaultDurationMs: 60_000,
    async run(ctx: ChaosContext): Promise<string> {
      const { fleet } = ctx.target;
      const nodes = (await fleet.get<{ nodes: AdminNode[] }>("/nodes", ctx.signal)).nodes;
      const node = nodes.find((n) => n.id === (ctx.options.node ?? nodes.find((x) => x.state === "ready")?.id));
      if (!node) throw new ChaosUsageError(`no gateway node "${ctx.options.node}"; the fleet has ${nodes.map((n) => n.id).join(", ")}`);
      const restartsBefore = node.restarts;
      const seconds = Math.ceil(ctx.options.durationMs / 1000);
      try {
        await fleet.post(`/nodes/${node.id}/faults`, { fault, duration: `${seconds}s` }, ctx.signal);
      } catch (err) {
        if (/faults_disabled|403/.test(describeError(err))) {
          throw new ChaosUsageError(`the gateway fleet refuses faults: start Pulseboard with GATEWAY_FAULTS=1 to rehearse ${name} (${describeError(err)})`);
        }
        throw err;
      }
      ctx.note(`${what} on ${node.id} for at most ${seconds} s`);
      try {
        await ctx.hold(ctx.options.durationMs, () => ctx.recovered());
      } finally {
        await fleet.delete(`/nodes/${node.id}/faults`, AbortSignal.timeout(3_000)).catch(() => undefined);
      }
      const after = (await fleet.get<{ nodes: AdminNode[] }>("/nodes", AbortSignal.timeout(3_000)).catch(() => ({ nodes: [] as AdminNode[] }))).nodes;
      const restarts = (after.find((n) => n.id === node.id)?.restarts ?? restartsBefore) - restartsBefore;
      return `${what} on ${node.id}; ${restarts > 0 ? `the node was restarted ${restarts === 1 ? "once" : `${restarts} times`}` : "the node was not restarted"}`;
    },
  };
}

export const safeguardLockup = faultScenario(
  "safeguard-lockup",
  "lock-safeguard",
  "a node's connection safeguard locks and refuses every new client while old ones still work (the 3.5-hour chat outage)",
  "locked the connection safeguard",
);

export const gatewayHalt = faultScenario("gateway-halt", "freeze", "a gateway node's event loop freezes (the WebSocket servers that halted)", "froze the event loop");
