import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import type { NotificationEvent } from "../notify/index.ts";
import { currentImpact, onCallText, type Incident, type MaintenanceOutboxEntry, type OutboxEntry, type StatusContext } from "../status/index.ts";
import { draftNote } from "./draft-notes.ts";
import { maintenanceEventOf } from "./maintenance-events.ts";
import { routeChannels, routeMaintenanceChannels, threadOf } from "./notify-routing.ts";
import { bullPrefix, QUEUE, type NotifyJob } from "./queues.ts";
import { startLeasedStreamReader } from "./stream-consumer.ts";

/** The on-call channels' consumer group on the outbox (subscribers have their own). */
const GROUP = "dispatch";

export interface OutboxOptions {
  config: () => Config;
  status: StatusContext;
  /** A `command` connection (the dispatcher blocks on one of its own, made like it). */
  connection: Redis;
  log: Logger;
}

/**
 * Turns the outboxes (timeline entries written with their incidents, and
 * notices about maintenance windows) into delivery jobs, one per routed
 * channel. Entries are acknowledged only after
 * their jobs are queued (keyed by update and channel), so a crash re-reads
 * them and queues nothing twice. One dispatcher runs at a time (a lease in
 * Redis), which keeps each channel's posts of an incident (or a window) in
 * order.
 */
export function startOutboxDispatcher(options: OutboxOptions): { close(): Promise<void> } {
  const { status } = options;
  const log = options.log.child({ module: "pipeline.outbox" });
  const keys = status.store.keys;
  const queue = new Queue<NotifyJob>(QUEUE.notify, { connection: options.connection, prefix: bullPrefix(options.config().redis.prefix) });
  const reader = startLeasedStreamReader({
    connection: options.connection,
    streams: [keys.outbox, keys.maintenanceOutbox],
    group: GROUP,
    leaseKey: `${keys.prefix}:outbox:lease`,
    handle: (stream, _id, fields) =>
      stream === keys.maintenanceOutbox ? dispatchMaintenance(JSON.parse(fields[1] ?? "{}") as MaintenanceOutboxEntry) : dispatch(JSON.parse(fields[1] ?? "{}") as OutboxEntry),
    log,
    what: "outbox dispatch",
  });

  async function dispatch(entry: OutboxEntry): Promise<void> {
    const config = options.config();
    const incident = await status.store.incident(entry.incident);
    const index = incident?.updates.findIndex((u) => u.id === entry.update) ?? -1;
    if (!incident || index < 0) return;
    const event = eventOf(config, entry, incident, index);
    for (const channel of routeChannels(config, incident)) await enqueue(event, channel, index + 1, entry.update);
  }

  /** A window's notice: to the channels its components are routed to, in the order of the window's revisions. */
  async function dispatchMaintenance(entry: MaintenanceOutboxEntry): Promise<void> {
    const config = options.config();
    const maintenance = await status.store.maintenance(entry.maintenance);
    if (!maintenance) return;
    const event = maintenanceEventOf(config, entry, maintenance);
    for (const channel of routeMaintenanceChannels(config, maintenance)) await enqueue(event, channel, entry.seq, entry.id);
  }

  /** Queues one post to one channel, once (keyed by `postId` and channel), after the thread's post queued before it. */
  async function enqueue(event: NotificationEvent, channel: string, seq: number, postId: string): Promise<void> {
    const after = Number(await options.connection.eval(CLAIM_SEQ_LUA, 1, `${keys.prefix}:notify:queued:${threadOf(event)}`, channel, String(seq)));
    if (after >= seq) return;
    await queue.add("post", { event, channel, seq, after }, { jobId: `${postId}.${channel}`, ...deliveryOptions(options.config()) });
  }

  return {
    async close() {
      await reader.close();
      await queue.close();
    },
  };
}

/**
 * Records `seq` as the last post queued for a channel and returns the one
 * queued before it (0 for none), so each job knows which post must go first.
 * Claiming the same post again returns the same answer (kept beside it as
 * `channel#seq`): a dispatcher that failed or died between the claim and the
 * queueing queues the post when it reads the entry again, rather than
 * skipping it and leaving the channel's later posts waiting for it forever.
 */
const CLAIM_SEQ_LUA = `
local claimed = redis.call("HGET", KEYS[1], ARGV[1] .. "#" .. ARGV[2])
if claimed then
  return tonumber(claimed)
end
local previous = tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "0")
if tonumber(ARGV[2]) > previous then
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. "#" .. ARGV[2], previous)
  redis.call("EXPIRE", KEYS[1], 2592000)
end
return previous
`;

export function deliveryOptions(config: Config) {
  return {
    attempts: config.notifications.retry.attempts,
    backoff: { type: "notify" },
    removeOnComplete: { age: 7 * 86_400, count: 10_000 },
    removeOnFail: { age: 7 * 86_400 },
  };
}

function eventOf(config: Config, entry: OutboxEntry, incident: Incident, index: number): NotificationEvent {
  const pageUrl = config.page.url.replace(/\/$/, "");
  const stored = incident.updates[index]!;
  // On-call channels get every technical detail, and what the page says beside it (or, for a draft, that it says nothing yet).
  const note = draftNote(incident, stored, index, pageUrl);
  const update = { ...stored, body: note ? `${onCallText(stored)}\n\n${note}` : onCallText(stored) };
  return {
    id: `msg_${update.id}`,
    type: entry.type,
    occurred_at: update.created_at,
    page: { name: config.page.name, url: pageUrl },
    incident,
    update,
    incident_url: `${pageUrl}/incidents/${incident.id}`,
    // The impact now, not the worst reached: a recovery's posts page no one.
    urgency: ["critical", "major"].includes(currentImpact(incident)) ? "high" : "low",
  };
}
