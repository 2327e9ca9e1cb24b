import type { Config } from "../config/index.ts";
import type { MaintenanceEvent } from "../notify/index.ts";
import { maintenanceAsOf, maintenanceNoticeText, type Maintenance, type MaintenanceOutboxEntry } from "../status/index.ts";

/**
 * The on-call post of a maintenance notice: the window as it stood when the
 * notice was written, its components by name (in page order), and the
 * notice in the same plain words customers get.
 */
export function maintenanceEventOf(config: Config, entry: MaintenanceOutboxEntry, stored: Maintenance): MaintenanceEvent {
  const pageUrl = config.page.url.replace(/\/$/, "");
  const maintenance = maintenanceAsOf(stored, entry);
  const components = config.components.filter((c) => maintenance.components.includes(c.id)).map((c) => ({ id: c.id, name: c.name }));
  // A component no longer configured is still named, by its id.
  for (const id of maintenance.components) if (!components.some((c) => c.id === id)) components.push({ id, name: id });
  return {
    id: `msg_${entry.id}`,
    type: entry.type,
    occurred_at: entry.at,
    page: { name: config.page.name, url: pageUrl },
    maintenance: {
      id: maintenance.id,
      name: maintenance.name,
      status: maintenance.status,
      components,
      scheduled_for: maintenance.scheduled_for,
      scheduled_until: maintenance.scheduled_until,
    },
    text: maintenanceNoticeText(entry, components.map((c) => c.name)),
    body: maintenance.updates.at(-1)?.body ?? "",
    maintenance_url: `${pageUrl}/incidents/${maintenance.id}`,
    urgency: "low",
  };
}
