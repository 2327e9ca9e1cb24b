import { z } from "zod";
import { ValidationError, newId, stableId } from "../../core/index.ts";
import { INCIDENT_IMPACTS, impactOf, worstStatus, type AffectedComponent, type Incident } from "../model.ts";
import { refreshEffective } from "./refresh-effective.ts";
import {
  authorSchema,
  checkComponentIds,
  componentName,
  componentStatusSchema,
  detailSchema,
  nowIso,
  parseInput,
  type StatusContext,
} from "./context.ts";

export const openIncidentInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  /** `resolved` records one that is over already (a retroactive report). */
  status: z.enum(["investigating", "identified", "monitoring", "resolved"]).default("investigating"),
  /** @defaultValue derived from the worst affected component status */
  impact: z.enum(INCIDENT_IMPACTS).optional(),
  body: z.string().trim().min(1).max(20_000),
  detail: detailSchema,
  /** Affected components and the status each has in this incident. */
  components: z.record(z.string(), componentStatusSchema).default({}),
  automatic: z.boolean().default(false),
  /**
   * Opens an automatic incident as a draft (`incidents.publish: review`):
   * on-call hears of it, customers see nothing until it is published
   * (publishIncident), by a person or by itself at `publish_at`.
   * @defaultValue public at once
   */
  draft: z.strictObject({ publish_at: z.iso.datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T02:10:00Z" }) }).optional(),
  /** False: on the page, but not posted to status-page subscribers. @defaultValue true */
  notify: z.boolean().default(true),
  author: authorSchema,
  /** Idempotency key: opening twice with the same key opens one incident. */
  key: z.string().min(1).max(300).optional(),
});
export type OpenIncidentInput = z.input<typeof openIncidentInput>;

/**
 * Opens an incident with its first timeline entry. Returns the incident and
 * whether this call created it (false when the key was used before).
 */
export async function openIncident(
  ctx: StatusContext,
  rawInput: OpenIncidentInput,
): Promise<{ incident: Incident; created: boolean }> {
  const input = parseInput(openIncidentInput, rawInput);
  checkComponentIds(ctx, Object.keys(input.components));
  if (input.draft && !input.automatic) throw new ValidationError(["draft: only automatic incidents open as drafts; a person's incident is public when it is written"]);
  // The same key always names the same incident, so a retried open finds it.
  const id = input.key ? stableId(`incident:${input.key}`) : newId();
  if (input.key) {
    const existing = await ctx.store.incident(id);
    if (existing) return { incident: existing, created: false };
  }
  const at = nowIso(ctx);
  const current = await ctx.store.components();
  const affected: AffectedComponent[] = Object.entries(input.components).map(([code, status]) => ({
    code,
    name: componentName(ctx, code),
    old_status: current.get(code)?.status ?? "operational",
    new_status: status,
  }));
  const incident: Incident = {
    id,
    name: input.name,
    status: input.status,
    impact: input.impact ?? impactOf(worstStatus(Object.values(input.components))),
    automatic: input.automatic,
    created_at: at,
    updated_at: at,
    started_at: at,
    monitoring_at: input.status === "monitoring" ? at : null,
    resolved_at: input.status === "resolved" ? at : null,
    components: input.components,
    updates: [
      {
        id: newId(),
        status: input.status,
        body: input.body,
        created_at: at,
        display_at: at,
        affected_components: affected,
        author: input.author,
        ...(input.detail !== undefined ? { detail: input.detail } : {}),
        ...(input.draft ? { draft: true } : {}),
        ...(input.notify ? {} : { notify: false }),
      },
    ],
    postmortem: null,
    revision: 1,
    ...(input.draft ? { draft: true, publish_at: new Date(input.draft.publish_at).toISOString() } : {}),
  };
  const written = await ctx.store.writeIncident(incident, {
    key: input.key,
    automatic: input.automatic ? "set" : undefined,
    announce: "incident.opened",
  });
  if (!written) {
    const existing = await ctx.store.incident(id);
    if (existing) return { incident: existing, created: false };
  }
  await refreshEffective(ctx, Object.keys(input.components));
  return { incident, created: written };
}
