import type { Incident, IncidentUpdate } from "../status/index.ts";

/**
 * What on-call is told beside an entry written while its incident was a
 * draft: that customers see nothing of it, and how to publish it (on the
 * opening post), or that it will never be public (on a resolution).
 */
export function draftNote(incident: Incident, update: IncidentUpdate, index: number, pageUrl: string): string | undefined {
  if (!update.draft) return undefined;
  if (update.status === "resolved" || update.status === "postmortem") {
    return "This draft resolved before anyone published it: customers never saw it, and it will not be published.";
  }
  if (index > 0) return "Still a draft: customers see nothing of this incident yet.";
  const timeout = incident.publish_at ? ` Unless someone does, it publishes itself at ${incident.publish_at}.` : "";
  return (
    "Draft awaiting review (incidents.publish: review): customers see nothing of this incident yet. " +
    `To publish it, use the console (${pageUrl}/admin) or POST ${pageUrl}/admin/api/incidents/${incident.id}/publish with a token scoped "incidents".${timeout}`
  );
}
