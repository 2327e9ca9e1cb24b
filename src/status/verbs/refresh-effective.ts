import { componentsInMaintenance, effectiveStatus } from "../model.ts";
import type { StatusContext } from "./context.ts";

/**
 * Recomputes what customers see for components (all of them by default) from
 * the computed status and the unresolved public incidents (drafts are not
 * among them), and records any change in the uptime history. Every writer of
 * either calls it; the scheduler also runs it every minute, so a change
 * missed by a crash is caught up.
 */
export async function refreshEffective(ctx: StatusContext, components?: Iterable<string>): Promise<void> {
  const ids = components ? [...components] : ctx.components.map((c) => c.id);
  if (ids.length === 0) return;
  const [computed, unresolved, maintenances] = await Promise.all([
    ctx.store.components(),
    ctx.store.unresolvedIncidents(),
    ctx.store.openMaintenances(),
  ]);
  const underMaintenance = componentsInMaintenance(maintenances);
  const now = ctx.now?.().getTime() ?? Date.now();
  const review = ctx.publish === "review";
  for (const id of ids) await ctx.store.setEffective(id, effectiveStatus(id, computed.get(id), unresolved, underMaintenance.has(id), review), now);
}
