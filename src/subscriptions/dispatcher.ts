import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import { publicIncident, readSummary, type ComponentOutboxEntry, type MaintenanceOutboxEntry, type OutboxEntry, type StatusContext } from "../status/index.ts";
import { wants } from "./model.ts";
import { componentPost, incidentPost, maintenancePost, type StatuspageShapes, type SubscriberPost } from "./payloads.ts";
import { startLeasedStreamReader } from "../pipeline/index.ts";
import { subscriptionJobOptions, subscriptionQueue } from "./queue.ts";
import { senders } from "./senders/registry.ts";
import type { SubscriberStore } from "./store.ts";

/** The consumer group of subscribers on the status room's outbox streams (on-call channels have their own). */
const GROUP = "subscribers";
/** Subscribers claimed and queued per round trip. */
const BATCH = 500;

export interface SubscriberDispatcherOptions {
  config: () => Config;
  status: StatusContext;
  store: SubscriberStore;
  shapes: StatuspageShapes;
  /** A `command` connection (the dispatcher blocks on one of its own, made like it). */
  connection: Redis;
  log: Logger;
}

/**
 * Turns the status room's outboxes into deliveries to subscribers: each
 * incident timeline entry, each change of a component's status and each
 * maintenance notice (reminder, start, completion, cancellation) becomes
 * one stored post and one job per subscriber who wants it. Entries are
 * acknowledged only after their jobs are queued (keyed by post and
 * subscriber), so a crash re-reads them and queues nothing twice; one
 * dispatcher at a time (a lease) keeps each subscriber's posts in order.
 */
export function startSubscriberDispatcher(options: SubscriberDispatcherOptions): { close(): Promise<void> } {
  const { status, store } = options;
  const log = options.log.child({ module: "subscriptions.dispatch" });
  const queue = subscriptionQueue(options.config(), options.connection);
  const reader = startLeasedStreamReader({
    connection: options.connection,
    streams: [status.store.keys.outbox, status.store.keys.componentOutbox, status.store.keys.maintenanceOutbox],
    group: GROUP,
    leaseKey: store.keys.lease,
    handle: dispatch,
    log,
    what: "subscriber dispatch",
  });

  async function dispatch(stream: string, id: string, fields: string[]): Promise<void> {
    const entry: unknown = JSON.parse(fields[1] ?? "{}");
    const post = stream === status.store.keys.maintenanceOutbox ? await maintenancePostOf(entry as MaintenanceOutboxEntry) : await postOf(stream, id, entry as OutboxEntry | ComponentOutboxEntry);
    if (post) await fanOut(post);
  }

  async function maintenancePostOf(entry: MaintenanceOutboxEntry): Promise<SubscriberPost | undefined> {
    const stored = await status.store.maintenance(entry.maintenance);
    return stored ? maintenancePost(options.shapes, await readSummary(status), entry, stored) : undefined;
  }

  async function postOf(stream: string, id: string, entry: OutboxEntry | ComponentOutboxEntry): Promise<SubscriberPost | undefined> {
    if (stream === status.store.keys.componentOutbox && entry.type === "component.updated") {
      return componentPost(options.shapes, await readSummary(status), entry, id);
    }
    if (entry.type === "component.updated") return undefined;
    const stored = await status.store.incident(entry.incident);
    // Subscribers are the public: on-call-only entries are never posted to them, and none shows a technical detail.
    if (!stored) return undefined;
    // A person chose not to notify subscribers of this entry ("Notify subscribers" off, `notify: false`).
    if (stored.updates.find((u) => u.id === entry.update)?.notify === false) return undefined;
    // A draft has nothing public; its entries stay on-call only once it is published.
    if (stored.draft) return undefined;
    const incident = publicIncident(stored);
    const index = incident.updates.findIndex((u) => u.id === entry.update);
    if (index < 0) return undefined;
    // The first entry customers see opens the incident for them (a published draft's is an update to on-call).
    const event: OutboxEntry = index === 0 ? { ...entry, type: "incident.opened" } : entry;
    return incidentPost(options.shapes, await readSummary(status), event, incident, index);
  }

  async function fanOut(post: SubscriberPost): Promise<void> {
    const { subscriptions } = options.config();
    // A type the page no longer offers (webhooks turned off, SMTP removed) is held back, not dead-lettered.
    const offered = { webhook: subscriptions.webhook.enabled, email: Boolean(subscriptions.email) };
    const subscribers = (await store.subscribers()).filter((s) => offered[s.type] && senders[s.type].accepts(post) && wants(s, post.touches));
    if (subscribers.length === 0) return;
    await store.savePost(post.id, post);
    const jobOptions = subscriptionJobOptions(options.config());
    for (let start = 0; start < subscribers.length; start += BATCH) {
      const batch = subscribers.slice(start, start + BATCH);
      const previous = (await options.connection.eval(CLAIM_LUA, 1, store.keys.queued(post.thread), String(post.seq), ...batch.map((s) => s.id))) as string[];
      const jobs = batch.flatMap((subscriber, i) =>
        previous[i] === "skip"
          ? []
          : [{ name: "post", data: { kind: "post" as const, post: post.id, subscriber: subscriber.id, thread: post.thread, seq: post.seq, after: Number(previous[i]) }, opts: { ...jobOptions, jobId: `${post.id}.${subscriber.id}` } }],
      );
      if (jobs.length > 0) await queue.addBulk(jobs);
    }
    log.debug({ post: post.id, kind: post.kind, subscribers: subscribers.length }, "post queued for subscribers");
  }

  return {
    async close() {
      await reader.close();
      await queue.close();
    },
  };
}

/**
 * For each subscriber: records `seq` as the last post queued in the thread
 * and answers the one queued before it ("0" for none), or "skip" when a
 * later post was queued already. Claiming the same post again answers the
 * same (kept as `subscriber#seq` until the post is delivered), so a
 * dispatcher that died between claiming and queueing queues it on re-read.
 * KEYS: queued hash of the thread. ARGV: seq, subscriber ids…
 */
const CLAIM_LUA = `
local out = {}
local seq = tonumber(ARGV[1])
for i = 2, #ARGV do
  local sub = ARGV[i]
  local claimed = redis.call("HGET", KEYS[1], sub .. "#" .. ARGV[1])
  if claimed then
    out[#out + 1] = claimed
  else
    local previous = redis.call("HGET", KEYS[1], sub) or "0"
    if seq > tonumber(previous) then
      redis.call("HSET", KEYS[1], sub, ARGV[1], sub .. "#" .. ARGV[1], previous)
      out[#out + 1] = previous
    else
      out[#out + 1] = "skip"
    end
  end
end
redis.call("EXPIRE", KEYS[1], 2592000)
return out
`;
