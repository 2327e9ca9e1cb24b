import type { Incident, Maintenance } from "../status/index.ts";
import type { RouteContext } from "./public-routes.ts";
import type { PublicRoute } from "./public-site.ts";
import { renderedJson } from "./rendered.ts";
import type { Snapshot } from "./snapshot.ts";

/** Incidents and maintenances in the list endpoints, as on Statuspage. */
export const API_LIST_LIMIT = 50;

/**
 * Atlassian Statuspage's public API (v2), answered from the snapshot: the
 * same paths, documents and enums as a Statuspage-hosted page, so existing
 * clients and widgets work against Pulseboard by changing the host.
 */
export function apiRoutes({ mapper }: RouteContext): PublicRoute[] {
  const incidents = (s: Snapshot, list: Incident[]) =>
    renderedJson({ page: mapper.page(s.summary), incidents: list.map((i) => mapper.incident(i, s.summary)) });
  const maintenances = (s: Snapshot, list: Maintenance[]) =>
    renderedJson({ page: mapper.page(s.summary), scheduled_maintenances: list.map((m) => mapper.maintenance(m, s.summary)) });

  return [
    { path: "/api/v2/summary.json", render: (s) => renderedJson(mapper.summary(s.summary)) },
    { path: "/api/v2/status.json", render: (s) => renderedJson({ page: mapper.page(s.summary), status: mapper.status(s.summary) }) },
    { path: "/api/v2/components.json", render: (s) => renderedJson({ page: mapper.page(s.summary), components: mapper.components(s.summary) }) },
    // Any status, most recent first.
    { path: "/api/v2/incidents.json", render: (s) => incidents(s, s.summary.recent.slice(0, API_LIST_LIMIT)) },
    // Investigating, identified or monitoring, newest first.
    { path: "/api/v2/incidents/unresolved.json", render: (s) => incidents(s, s.summary.unresolved) },
    // Scheduled, in progress and completed, most recently scheduled first.
    { path: "/api/v2/scheduled-maintenances.json", render: (s) => maintenances(s, s.data.maintenances.slice(0, API_LIST_LIMIT)) },
    // Open windows come from the summary (every one, soonest first), not from the capped recent list.
    {
      path: "/api/v2/scheduled-maintenances/upcoming.json",
      render: (s) => maintenances(s, s.summary.maintenances.filter((m) => m.status === "scheduled")),
    },
    {
      path: "/api/v2/scheduled-maintenances/active.json",
      render: (s) => maintenances(s, s.summary.maintenances.filter((m) => m.status === "in_progress" || m.status === "verifying")),
    },
  ];
}
