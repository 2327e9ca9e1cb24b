import { z } from "zod";
import type { FleetNode, RestartTarget } from "../../fleet/index.ts";
import { optionalDuration, sleep } from "./common.ts";
import { defineStep, NOT_STARTED } from "./types.ts";

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

/** A node as the step saw it before asking for the restart. */
interface Before {
  id: string;
  startedAt?: string;
}

/** How long an interrupted restart's nodes must stay as they were (no drain, same start) to count as never asked. */
const UNTOUCHED_MS = 5_000;

/**
 * Restarts gateway nodes through the fleet driver. Not safe to repeat: a
 * restart interrupted by a worker's death is checked (are the nodes serving
 * now?) rather than done again. Before asking, it remembers the nodes it is
 * about to restart and when each started; a check that finds them all
 * untouched (same start, not draining, for a few seconds) knows the restart
 * never happened and runs it, for the first time.
 */
export default defineStep({
  action: "restart-gateway",
  description: "restart one gateway node, the failing ones, or all of them one by one",
  configSchema,
  resume: "check",
  timeoutMs: (s) => s.timeout,
  describe: (s) => (s.target === "node" ? `restart ${s.node}` : s.target === "rolling" ? "restart every gateway node one by one" : "restart the failing gateway nodes"),
  async run(s, ctx) {
    const call = { signal: ctx.signal, dryRun: ctx.dryRun };
    if (!ctx.dryRun) {
      // The fleet's stats say which nodes are failing the way the driver judges them (a silent node counts).
      const nodes = (await ctx.fleet.stats(call)).nodes;
      const about = s.target === "node" ? nodes.filter((n) => n.id === s.node) : s.target === "failing" ? nodes.filter(failing) : nodes;
      const before: Before[] = about.map((n) => ({ id: n.id, ...(n.startedAt ? { startedAt: n.startedAt } : {}) }));
      await ctx.remember({ before });
    }
    const outcome = await ctx.fleet.restart(targetOf(s), call);
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
  async check(s, ctx) {
    // No record of what it was about to restart: it died before asking anything.
    const before = (ctx.intent?.before as Before[] | undefined) ?? undefined;
    // Or nothing was failing when it asked, so the fleet restarted nothing.
    if (!before || (before.length === 0 && s.target === "failing")) return NOT_STARTED;
    // The restart may still be finishing on the platform: give it a little time to show.
    const deadline = Date.now() + Math.min(30_000, s.timeout);
    let untouchedSince = Date.now();
    for (;;) {
      const nodes = await ctx.fleet.nodes({ signal: ctx.signal, dryRun: false });
      const concerned = s.target === "node" ? nodes.filter((n) => n.id === s.node) : nodes;
      const bad = concerned.filter(failing);
      if (concerned.length > 0 && bad.length === 0) {
        return { ok: true, summary: `The restart was interrupted (its worker stopped); checked instead of repeated: ${concerned.map((n) => n.id).join(", ")} ready.`, details: { checked: true } };
      }
      // Every node it meant to restart that is still failing is the same incarnation, and nothing is restarting it
      // (one that healed or was restarted meanwhile, by the fleet or by this step, is left out: it is not restarted again).
      const stillFailing = before.flatMap((b) => {
        const now = nodes.find((n) => n.id === b.id);
        return now && failing(now) ? [{ b, now }] : [];
      });
      const untouched =
        stillFailing.length > 0 &&
        stillFailing.every(({ b, now }) => b.startedAt !== undefined && now.startedAt === b.startedAt && now.state !== "draining" && now.state !== "starting");
      if (!untouched) untouchedSince = Date.now();
      else if (Date.now() - untouchedSince >= UNTOUCHED_MS) return NOT_STARTED;
      if (Date.now() > deadline) return undefined;
      await sleep(1_000, ctx.signal);
    }
  },
});
