import { z } from "zod";
import { NotFoundError, newId } from "../../core/index.ts";
import { IncidentConflict } from "../store.ts";
import {
  INCIDENT_IMPACTS,
  INCIDENT_STATUSES,
  impactOf,
  isUnresolved,
  worseImpact,
  worstStatus,
  type AffectedComponent,
  type ComponentStatus,
  type Incident,
} from "../model.ts";
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

export const appendUpdateInput = z.strictObject({
  id: z.string().min(1).max(64),
  /** @defaultValue the incident's current status */
  status: z.enum(INCIDENT_STATUSES).optional(),
  body: z.string().trim().min(1).max(20_000),
  detail: detailSchema,
  /** On the on-call timeline only (admin API, on-call channels), never on a public surface. @defaultValue false */
  internal: z.boolean().default(false),
  /** False: on the page, but not posted to status-page subscribers (on-call channels still get it). @defaultValue true */
  notify: z.boolean().default(true),
  /** Components whose status in this incident changes (others stay as they are). */
  components: z.record(z.string(), componentStatusSchema).default({}),
  impact: z.enum(INCIDENT_IMPACTS).optional(),
  author: authorSchema,
  /** Idempotency key: a retried update with the same key is written once. */
  key: z.string().min(1).max(300).optional(),
  /**
   * The incident's revision the entry was decided from (whether to tell the public, say): if it was written since,
   * nothing is written and IncidentConflict is thrown, for the caller to decide again. @defaultValue no such check
   */
  as_of_revision: z.number().int().min(0).optional(),
});
export type AppendUpdateInput = z.input<typeof appendUpdateInput>;

const ATTEMPTS = 5;

/**
 * Adds a timeline entry to an incident, with any change of its status,
 * impact or components. Resolving sets every affected component back to
 * operational unless the update says otherwise.
 */
export async function appendUpdate(
  ctx: StatusContext,
  rawInput: AppendUpdateInput,
): Promise<{ incident: Incident; written: boolean }> {
  const input = parseInput(appendUpdateInput, rawInput);
  checkComponentIds(ctx, Object.keys(input.components));
  for (let attempt = 1; ; attempt++) {
    const current = await ctx.store.incident(input.id);
    if (!current) throw new NotFoundError(`incident ${input.id}`);
    if (input.as_of_revision !== undefined && current.revision !== input.as_of_revision) throw new IncidentConflict(input.id);
    const next = applyUpdate(ctx, current, input);
    try {
      const written = await ctx.store.writeIncident(next, {
        key: input.key,
        expectedRevision: current.revision,
        automatic: current.automatic && !isUnresolved(next) ? "clear" : undefined,
        announce: next.status === "resolved" && current.status !== "resolved" ? "incident.resolved" : "incident.updated",
      });
      if (!written) return { incident: current, written };
      await refreshEffective(ctx, new Set([...Object.keys(current.components), ...Object.keys(next.components)]));
      return { incident: next, written };
    } catch (err) {
      // Written since it was read: read again, unless the caller's decision rests on what was read.
      if (!(err instanceof IncidentConflict) || attempt >= ATTEMPTS || input.as_of_revision !== undefined) throw err;
    }
  }
}

function applyUpdate(ctx: StatusContext, current: Incident, input: z.output<typeof appendUpdateInput>): Incident {
  const at = nowIso(ctx);
  const status = input.status ?? current.status;
  const requested: Record<string, ComponentStatus> = { ...input.components };
  if (status === "resolved" && current.status !== "resolved") {
    for (const code of Object.keys(current.components)) requested[code] ??= "operational";
  }
  const affected: AffectedComponent[] = [];
  const components = { ...current.components };
  for (const [code, next] of Object.entries(requested)) {
    const before = current.components[code] ?? "operational";
    components[code] = next;
    if (before !== next) affected.push({ code, name: componentName(ctx, code), old_status: before, new_status: next });
  }
  const reopened = current.status === "resolved" && status !== "resolved" && status !== "postmortem";
  return {
    ...current,
    status,
    impact: input.impact ?? impactAfter(current, components),
    components,
    updated_at: at,
    monitoring_at: status === "monitoring" && current.status !== "monitoring" ? at : current.monitoring_at,
    resolved_at: status === "resolved" ? (current.resolved_at ?? at) : reopened ? null : current.resolved_at,
    updates: [
      ...current.updates,
      {
        id: newId(),
        status,
        body: input.body,
        created_at: at,
        display_at: at,
        affected_components: affected,
        author: input.author,
        ...(input.internal ? { internal: true } : {}),
        ...(input.detail !== undefined ? { detail: input.detail } : {}),
        ...(current.draft ? { draft: true } : {}),
        ...(input.notify ? {} : { notify: false }),
      },
    ],
    // A draft that resolves never publishes itself: customers are not told of a problem that is over.
    ...(current.draft && status === "resolved" ? { publish_at: null } : {}),
    revision: current.revision + 1,
  };
}

/**
 * An update that does not set the impact keeps the worst one reached. An
 * automatic incident's rises when this update makes its components worse
 * than they were; staying as bad does not undo a person's lowering.
 */
function impactAfter(current: Incident, components: Record<string, ComponentStatus>): Incident["impact"] {
  if (!current.automatic) return current.impact;
  const before = impactOf(worstStatus(Object.values(current.components)));
  const now = impactOf(worstStatus(Object.values(components)));
  const worsened = worseImpact(before, now) !== before;
  return worsened ? worseImpact(current.impact, now) : current.impact;
}
