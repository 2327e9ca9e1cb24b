import type { AffectedComponent, Incident, IncidentUpdate } from "./model.ts";

/**
 * An incident as the public sees it (the page, the Statuspage API, feeds,
 * subscriber posts): its on-call-only entries left out (internal ones, and
 * those written while it was a draft), and no entry's technical `detail`.
 * What a left-out entry changed in the components shows on the next public
 * entry, so each component's status still reads as a chain (old → new) from
 * one public entry to the next. A draft has no public entry at all.
 */
export function publicIncident(incident: Incident): Incident {
  const { draft: _draft, publish_at: _publishAt, published_at: _publishedAt, ...stored } = incident;
  if (!incident.updates.some((u) => u.internal || u.draft || u.detail !== undefined)) return stored;
  const updates: IncidentUpdate[] = [];
  let carried = new Map<string, AffectedComponent>();
  for (const update of incident.updates) {
    const merged = new Map(carried);
    for (const a of update.affected_components) {
      const before = merged.get(a.code);
      merged.set(a.code, { ...a, old_status: before?.old_status ?? a.old_status });
    }
    if (update.internal || update.draft) {
      carried = merged;
      continue;
    }
    const { internal: _internal, detail: _detail, draft: _drafted, ...shown } = update;
    updates.push({ ...shown, affected_components: [...merged.values()].filter((a) => a.old_status !== a.new_status) });
    carried = new Map();
  }
  return { ...stored, updated_at: updates.at(-1)?.created_at ?? incident.created_at, updates };
}

/** What an on-call engineer reads of an entry: its technical detail, and what the page says when that differs. */
export function onCallText(update: IncidentUpdate): string {
  if (update.detail === undefined || update.internal) return update.detail ?? update.body;
  // A draft's entry never reaches the page, so it is not said to be on it.
  if (update.draft) return `${update.detail}\n\nWhat the status page would say: ${update.body}`;
  return `${update.detail}\n\nOn the status page: ${update.body}`;
}
