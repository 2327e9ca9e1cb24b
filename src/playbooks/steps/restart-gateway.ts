import { z } from "zod";
import type { FleetNode, RestartTarget } from "../../fleet/index.ts";
import { optionalDuration, sleep } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z
  .strictObject({
    /** `failing` (unresponsive or safeguard stuck), `rolling` (every node, one by one) or `node`. @defaultValue failing */
    target: z.enum(["failing", "rolling", "node"], { error: 'expected "failing", "rolling" or "node"' }).default("failing"),
    /** The node to restart when target is `node` (like node-1). */
    node: z.string().min(1).optional(),
    /** @defaultValue 2m */
    timeout: optionalDuration(120_000),
  })
  .superRefine((s, ctx) => {
    if (s.target === "node" && !s.node) ctx.addIssue({ code: "custom", path: ["node"], message: "name the node to restart (target: node)" });
    if (s.target !== "node" && s.node) ctx.addIssue({ code: "custom", path: ["node"], message: "only goes with target: node" });
  });

type Settings = z.output<typeof configSchema>;

const failing = (n: FleetNode): boolean => n.state !== "ready" || n.safeguardStuck === true;

function targetOf(s: Settings): RestartTarget {
  if (s.target === "node") return { node: s.node! };
  return s.target === "rolling" ? { rolling: true } : { failing: true };
}

/**
 * Restarts gateway nodes through the fleet driver. Not safe to repeat: a
 * restart interrupted by a worker's death is checked (are the nodes serving
 * now?) rather than done again.
 */
export default defineStep({
  action: "restart-gateway",
  description: "restart one gateway node, the failing ones, or all of them one by one",
  configSchema,
  resume: "check",
  timeoutMs: (s) => s.timeout,
  describe: (s) => (s.target === "node" ? `restart ${s.node}` : s.target === "rolling" ? "restart every gateway node one by one" : "restart the failing gateway nodes"),
  async run(s, ctx) {
    const outcome = await ctx.fleet.restart(targetOf(s), { signal: ctx.signal, dryRun: ctx.dryRun });
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
  async check(s, ctx) {
    // The restart may still be finishing on the platform: give it a little time to show.
    const deadline = Date.now() + Math.min(30_000, s.timeout);
    for (;;) {
      const nodes = await ctx.fleet.nodes({ signal: ctx.signal, dryRun: false });
      const concerned = s.target === "node" ? nodes.filter((n) => n.id === s.node) : nodes;
      const bad = concerned.filter(failing);
      if (concerned.length > 0 && bad.length === 0) {
        return { ok: true, summary: `The restart was interrupted (its worker stopped); checked instead of repeated: ${concerned.map((n) => n.id).join(", ")} ready.`, details: { checked: true } };
      }
      if (Date.now() > deadline) return undefined;
      await sleep(1_000, ctx.signal);
    }
  },
});
