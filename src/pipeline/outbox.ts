import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config/index.ts";
import { describeError, newId, sleep, type Logger } from "../core/index.ts";
import type { NotificationEvent } from "../notify/index.ts";
import type { Incident, OutboxEntry, StatusContext } from "../status/index.ts";
import { routeChannels } from "./notify-routing.ts";
import { bullPrefix, QUEUE, type NotifyJob } from "./queues.ts";

const GROUP = "dispatch";
/** The dispatcher lease: one dispatcher at a time keeps posts in order. */
const LEASE_MS = 10_000;

export interface OutboxOptions {
  config: () => Config;
  status: StatusContext;
  /** The control-plane Redis URL (the dispatcher blocks on a connection of its own). */
  url: string;
  connection: Redis;
  log: Logger;
}

/**
 * Turns the outbox (timeline entries written with their incidents) into
 * delivery jobs, one per routed channel. Entries are acknowledged only after
 * their jobs are queued (keyed by update and channel), so a crash re-reads
 * them and queues nothing twice. One dispatcher runs at a time (a lease in
 * Redis), which keeps each channel's posts of an incident in order.
 */
export function startOutboxDispatcher(options: OutboxOptions): { close(): Promise<void> } {
  const { status } = options;
  const log = options.log.child({ module: "pipeline.outbox" });
  const keys = status.store.keys;
  const reader = new Redis(options.url, { maxRetriesPerRequest: null });
  reader.on("error", () => {});
  const queue = new Queue<NotifyJob>(QUEUE.notify, { connection: options.connection, prefix: bullPrefix(options.config().redis.prefix) });
  const owner = newId(12);
  // One consumer name for every dispatcher: only the lease holder reads, and a
  // restarted one finds the entries its predecessor read but never acknowledged.
  const consumer = "dispatcher";
  let running = true;

  const loop = (async () => {
    await ensureGroup();
    while (running) {
      try {
        if (!(await holdLease())) {
          await sleep(1_000);
          continue;
        }
        // Our own pending entries first (left by a crash), then new ones.
        const pending = await read("0");
        const entries = pending.length > 0 ? pending : await read(">");
        for (const [id, entry] of entries) {
          await dispatch(entry);
          await options.connection.xack(keys.outbox, GROUP, id);
        }
      } catch (err) {
        if (running) {
          log.warn({ err: describeError(err) }, "outbox dispatch failed; retrying");
          await sleep(1_000);
        }
      }
    }
  })();

  async function ensureGroup(): Promise<void> {
    try {
      await options.connection.xgroup("CREATE", keys.outbox, GROUP, "0", "MKSTREAM");
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  async function holdLease(): Promise<boolean> {
    const key = `${keys.prefix}:outbox:lease`;
    const got = await options.connection.set(key, owner, "PX", LEASE_MS, "NX");
    if (got === "OK") return true;
    if ((await options.connection.get(key)) !== owner) return false;
    await options.connection.pexpire(key, LEASE_MS);
    return true;
  }

  async function read(from: "0" | ">"): Promise<[string, OutboxEntry][]> {
    const answer = (await reader.xreadgroup("GROUP", GROUP, consumer, "COUNT", 100, "BLOCK", from === ">" ? 1_000 : 1, "STREAMS", keys.outbox, from)) as
      | [string, [string, string[]][]][]
      | null;
    const messages = answer?.[0]?.[1] ?? [];
    return messages.map(([id, fields]) => [id, JSON.parse(fields[1] ?? "{}") as OutboxEntry]);
  }

  async function dispatch(entry: OutboxEntry): Promise<void> {
    const config = options.config();
    const incident = await status.store.incident(entry.incident);
    const index = incident?.updates.findIndex((u) => u.id === entry.update) ?? -1;
    if (!incident || index < 0) return;
    const event = eventOf(config, entry, incident, index);
    for (const channel of routeChannels(config, incident)) {
      const seq = index + 1;
      const after = Number(await options.connection.eval(CLAIM_SEQ_LUA, 1, `${keys.prefix}:notify:queued:${incident.id}`, channel, String(seq)));
      if (after >= seq) continue;
      await queue.add("post", { event, channel, seq, after }, { jobId: `${entry.update}.${channel}`, ...deliveryOptions(config) });
    }
  }

  return {
    async close() {
      running = false;
      reader.disconnect();
      await loop.catch(() => {});
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
  const update = incident.updates[index]!;
  return {
    id: `msg_${update.id}`,
    type: entry.type,
    occurred_at: update.created_at,
    page: { name: config.page.name, url: pageUrl },
    incident,
    update,
    incident_url: `${pageUrl}/incidents/${incident.id}`,
    urgency: incident.impact === "critical" || incident.impact === "major" ? "high" : "low",
  };
}
