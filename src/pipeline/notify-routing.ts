import type { Config } from "../config/index.ts";
import { subjectOf, type NotificationEvent } from "../notify/index.ts";
import type { Incident, Maintenance } from "../status/index.ts";

/**
 * The channels an incident's posts go to. Without routes, every channel gets
 * every post; with routes, the channels of every route whose components and
 * impacts match (a route without a filter matches everything).
 */
export function routeChannels(config: Config, incident: Incident): string[] {
  return chosenChannels(config, Object.keys(incident.components), (impacts) => impacts.includes(incident.impact));
}

/**
 * The channels a maintenance window's posts go to: as for an incident, by
 * its components; a route filtered by impact never matches, since planned
 * maintenance has none (a route for critical incidents pages no one for it).
 */
export function routeMaintenanceChannels(config: Config, maintenance: Pick<Maintenance, "components">): string[] {
  return chosenChannels(config, maintenance.components, () => false);
}

function chosenChannels(config: Config, affected: string[], impactMatches: (impacts: string[]) => boolean): string[] {
  const all = config.notifications.channels.map((c) => c.id);
  if (config.notifications.routes.length === 0) return all;
  const chosen = new Set<string>();
  for (const route of config.notifications.routes) {
    if (route.components && !route.components.some((c) => affected.includes(c))) continue;
    if (route.impacts && !impactMatches(route.impacts)) continue;
    for (const channel of route.channels) chosen.add(channel);
  }
  return all.filter((id) => chosen.has(id));
}

/**
 * The thread a post belongs to: each channel gets a thread's posts in order.
 * An incident's id as it always was; a maintenance window's id, marked.
 */
export function threadOf(event: NotificationEvent): string {
  const subject = subjectOf(event);
  return subject.kind === "incident" ? subject.id : `maintenance-${subject.id}`;
}

/** Exponential backoff from `baseMs`, capped at `maxMs`, with equal jitter (half fixed, half random). */
export function backoffDelay(attemptsMade: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
