import type { RedisConnection as Redis } from "../core/index.ts";
import { subjectOf, type NotificationEvent, type NotificationType } from "../notify/index.ts";

/** The last post a channel's receiver took, as on-call reads it (the console, the admin API). */
export interface LastDelivery {
  /** When the receiver accepted it (ISO 8601). */
  at: string;
  type: NotificationType;
  /** The post's id, the one receivers de-duplicate by. */
  event: string;
  /** The incident the post was about (absent for a post about a maintenance window). */
  incident?: { id: string; name: string };
  /** The maintenance window the post was about (absent for a post about an incident). */
  maintenance?: { id: string; name: string };
  /** A person replayed it from the dead-letter list. */
  replay?: boolean;
}

/** One small hash per control plane: channel id → its last delivery (JSON). */
function key(prefix: string): string {
  return `${prefix}:notify:last-delivery`;
}

/**
 * Notes the post a channel's receiver just took. Kept apart from the
 * delivery record (the per-incident sequence) so a failure to note it never
 * makes a delivered post count as undelivered and go out again.
 */
export async function recordLastDelivery(redis: Redis, prefix: string, channel: string, event: NotificationEvent, replay: boolean): Promise<void> {
  const { kind, id, name } = subjectOf(event);
  const delivery: LastDelivery = {
    at: new Date().toISOString(),
    type: event.type,
    event: event.id,
    [kind]: { id, name },
    ...(replay ? { replay: true } : {}),
  };
  await redis.hset(key(prefix), channel, JSON.stringify(delivery));
}

/** Each channel's last delivery, by channel id (channels that never delivered are absent). */
export async function lastDeliveries(redis: Redis, prefix: string): Promise<Map<string, LastDelivery>> {
  const all = await redis.hgetall(key(prefix));
  return new Map(Object.entries(all).map(([channel, json]) => [channel, JSON.parse(json) as LastDelivery]));
}
