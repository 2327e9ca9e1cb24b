import { z } from "zod";
import type { ComponentTransition } from "../model.ts";
import { refreshEffective } from "./refresh-effective.ts";
import { checkComponentIds, componentStatusSchema, nowIso, parseInput, type StatusContext } from "./context.ts";

export const setComponentStatusInput = z.strictObject({
  id: z.string().min(1),
  status: componentStatusSchema,
  reason: z.string().max(2_000).optional(),
  /** When the status was observed (ISO 8601). @defaultValue now */
  at: z.string().datetime().optional(),
});
export type SetComponentStatusInput = z.input<typeof setComponentStatusInput>;

/**
 * Records the status the pipeline computed for a component, and why. Returns
 * the transition when the status changed, undefined when it stayed the same
 * (a new reason for the same status is still recorded).
 */
export async function setComponentStatus(
  ctx: StatusContext,
  rawInput: SetComponentStatusInput,
): Promise<ComponentTransition | undefined> {
  const input = parseInput(setComponentStatusInput, rawInput);
  checkComponentIds(ctx, [input.id], "id");
  const at = input.at ?? nowIso(ctx);
  const current = (await ctx.store.components()).get(input.id);
  const from = current?.status ?? "operational";
  if (current && from === input.status) {
    if (current.reason !== input.reason) await ctx.store.writeComponent(input.id, { ...current, updated_at: at, reason: input.reason });
    return undefined;
  }
  const transition: ComponentTransition | undefined =
    from === input.status ? undefined : { component: input.id, from, to: input.status, at, reason: input.reason };
  const state = { status: input.status, created_at: current?.created_at ?? at, since: at, updated_at: at, reason: input.reason };
  await ctx.store.writeComponent(input.id, state, transition);
  await refreshEffective(ctx, [input.id]);
  return transition;
}
