import type { AffectedComponent, Incident, IncidentUpdate } from "./model.ts";

/**
 * An incident as the public sees it (the page, the Statuspage API, feeds,
 * subscriber posts): its on-call-only entries left out, and no entry's
 * technical `detail`. What a left-out entry changed in the components shows
 * on the next public entry, so each component's status still reads as a
 * chain (old → new) from one public entry to the next.
 */
export function publicIncident(incident: Incident): Incident {
  if (!incident.updates.some((u) => u.internal || u.detail !== undefined)) return incident;
  const updates: IncidentUpdate[] = [];
  let carried = new Map<string, AffectedComponent>();
  for (const update of incident.updates) {
    const merged = new Map(carried);
    for (const a of update.affected_components) {
      const before = merged.get(a.code);
      merged.set(a.code, { ...a, old_status: before?.old_status ?? a.old_status });
    }
    if (update.internal) {
      carried = merged;
      continue;
    }
    const { internal: _internal, detail: _detail, ...shown } = update;
    updates.push({ ...shown, affected_components: [...merged.values()].filter((a) => a.old_status !== a.new_status) });
    carried = new Map();
  }
  return { ...incident, updated_at: updates.at(-1)?.created_at ?? incident.created_at, updates };
}

/** What an on-call engineer reads of an entry: its technical detail, and what the page says when that differs. */
export function onCallText(update: IncidentUpdate): string {
  if (update.detail === undefined || update.internal) return update.detail ?? update.body;
  return `${update.detail}\n\nOn the status page: ${update.body}`;
}
