import { z } from "zod";
import { ConflictError, NotFoundError, newId } from "../../core/index.ts";
import { IncidentConflict } from "../store.ts";
import { isUnresolved, type Incident } from "../model.ts";
import { refreshEffective } from "./refresh-effective.ts";
import { authorSchema, detailSchema, nowIso, parseInput, type StatusContext } from "./context.ts";

export const publishIncidentInput = z.strictObject({
  id: z.string().min(1).max(64),
  /** The incident's first public entry: what customers read of its state now. */
  body: z.string().trim().min(1).max(20_000),
  /** What on-call reads of the publishing (who published it, or that it published itself). */
  detail: detailSchema,
  author: authorSchema,
  key: z.string().min(1).max(300).optional(),
});
export type PublishIncidentInput = z.input<typeof publishIncidentInput>;

const ATTEMPTS = 5;

/**
 * Puts a draft on the public surfaces: it joins the public indexes with one
 * public entry for its state now; the entries it gathered as a draft stay on
 * the on-call timeline only. Refused (ConflictError) for an incident that is
 * not a draft, and for a draft that resolved before anyone published it,
 * which customers are never shown.
 */
export async function publishIncident(ctx: StatusContext, rawInput: PublishIncidentInput): Promise<{ incident: Incident; written: boolean }> {
  const input = parseInput(publishIncidentInput, rawInput);
  for (let attempt = 1; ; attempt++) {
    const current = await ctx.store.incident(input.id);
    if (!current) throw new NotFoundError(`incident ${input.id}`);
    if (!current.draft) throw new ConflictError(`incident ${input.id} is not a draft: it is public already`);
    if (!isUnresolved(current)) {
      throw new ConflictError(`incident ${input.id} resolved while it was a draft, so it stays off the public page; to tell customers about it, open an incident by hand`);
    }
    const at = nowIso(ctx);
    const { draft: _draft, ...rest } = current;
    const next: Incident = {
      ...rest,
      updated_at: at,
      published_at: at,
      updates: [
        ...current.updates,
        {
          id: newId(),
          status: current.status,
          body: input.body,
          created_at: at,
          display_at: at,
          // What the draft's entries changed shows on this one (see publicIncident).
          affected_components: [],
          author: input.author,
          ...(input.detail !== undefined ? { detail: input.detail } : {}),
        },
      ],
      revision: current.revision + 1,
    };
    try {
      const written = await ctx.store.writeIncident(next, { key: input.key, expectedRevision: current.revision, announce: "incident.updated" });
      if (!written) return { incident: (await ctx.store.incident(input.id)) ?? current, written };
      await refreshEffective(ctx, Object.keys(next.components));
      return { incident: next, written };
    } catch (err) {
      if (!(err instanceof IncidentConflict) || attempt >= ATTEMPTS) throw err;
    }
  }
}
