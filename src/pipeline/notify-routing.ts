import type { Config } from "../config/index.ts";
import type { Incident } from "../status/index.ts";

/**
 * The channels an incident's posts go to. Without routes, every channel gets
 * every post; with routes, the channels of every route whose components and
 * impacts match (a route without a filter matches everything).
 */
export function routeChannels(config: Config, incident: Incident): string[] {
  const all = config.notifications.channels.map((c) => c.id);
  if (config.notifications.routes.length === 0) return all;
  const affected = Object.keys(incident.components);
  const chosen = new Set<string>();
  for (const route of config.notifications.routes) {
    if (route.components && !route.components.some((c) => affected.includes(c))) continue;
    if (route.impacts && !route.impacts.includes(incident.impact)) continue;
    for (const channel of route.channels) chosen.add(channel);
  }
  return all.filter((id) => chosen.has(id));
}

/** Exponential backoff from `baseMs`, capped at `maxMs`, with equal jitter (half fixed, half random). */
export function backoffDelay(attemptsMade: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
