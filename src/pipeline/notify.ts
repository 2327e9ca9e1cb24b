import { DelayedError, Worker, type Job } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { describeError, newId, type Logger } from "../core/index.ts";
import { RetryableDeliveryError, subjectOf, type DeliveryOutcome, type NotificationEvent, type Notifier } from "../notify/index.ts";
import type { StatusContext } from "../status/index.ts";
import { recordLastDelivery } from "./last-delivery.ts";
import { backoffDelay, threadOf } from "./notify-routing.ts";
import { bullPrefix, QUEUE, WORKER_LOCK, type NotifyJob } from "./queues.ts";
import { RoleMetrics } from "./role-metrics.ts";
import { watchWorker } from "./worker-watchdog.ts";

/**
 * An outer bound on one delivery attempt. Each channel enforces its own
 * `timeout` setting (at most two minutes); this only guards against a
 * notifier that forgets to.
 */
const ATTEMPT_TIMEOUT_MS = 130_000;
/** How soon a post waiting for the one before it looks again. */
const ORDER_WAIT_MS = 250;

/** A post given up on: kept for people to look at and replay. */
export interface DeadLetter {
  id: string;
  channel: string;
  reason: string;
  attempts: number;
  failed_at: string;
  job: NotifyJob;
}

export interface NotifyWorkerOptions {
  config: () => Config;
  status: StatusContext;
  connection: Redis;
  /** The notifier of a channel kind. */
  notifier: (kind: string) => Notifier | undefined;
  log: Logger;
  /** Posts delivered at once, across channels and incidents. @defaultValue 16 */
  concurrency?: number;
  /** Where delivery attempts are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
}

/**
 * Delivers posts to channels. Each channel gets an incident's posts in order
 * (a post waits until the one before it was delivered or given up on);
 * failures a retry can fix are retried with exponential backoff and jitter
 * (honouring Retry-After), others go straight to the dead-letter list, as do
 * retries that ran out. A receiver that answers 410 Gone is disabled until a
 * person enables it again. Delivery is at least once: a crash between a post
 * and its record sends it again, with the same id for receivers to de-dupe.
 */
export function startNotifyWorker(options: NotifyWorkerOptions): { close(): Promise<void> } {
  const { status, connection } = options;
  const log = options.log.child({ module: "pipeline.notify" });
  const keys = status.store.keys;
  const delivered = (thread: string) => `${keys.prefix}:notify:delivered:${thread}`;
  /** What a post is about, as log fields: `{ incident }` or `{ maintenance }`. */
  const about = (event: NotificationEvent) => ({ [subjectOf(event).kind]: subjectOf(event).id });
  const metrics = options.metrics ?? new RoleMetrics("worker", { runtime: false });
  const attempts = metrics.counter("pulseboard_notification_attempts_total", "Attempts to deliver a post, by channel and outcome: delivered, skipped (the channel's kind has nothing to send for it), retry (failed, tried again later), dead_lettered", ["channel", "outcome"]);

  async function process(job: Job<NotifyJob>, token?: string): Promise<{ outcome: string }> {
    const { event, channel: channelId, seq, after } = job.data;
    const config = options.config();
    const channel = config.notifications.channels.find((c) => c.id === channelId);
    if (!channel) return { outcome: "channel no longer configured" };
    if (!job.data.replay && !job.data.direct) {
      const done = Number((await connection.hget(delivered(threadOf(event)), channelId)) ?? 0);
      if (done >= seq) return { outcome: "already delivered" };
      if (done < after) {
        await job.moveToDelayed(Date.now() + ORDER_WAIT_MS, token);
        throw new DelayedError("waiting for the post before it");
      }
    }
    if (await connection.sismember(`${keys.prefix}:notify:disabled`, channelId)) {
      await deadLetter(job, "the channel is disabled (its receiver answered 410 Gone); enable it to deliver");
      return { outcome: "channel disabled" };
    }
    const notifier = options.notifier(channel.kind);
    if (!notifier) {
      await deadLetter(job, `no notifier for channel kind ${channel.kind}`);
      return { outcome: "unknown kind" };
    }
    let outcome: DeliveryOutcome;
    try {
      outcome = await notifier.send(event, channel.settings, { signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), log: log.child({ channel: channelId }) });
    } catch (err) {
      outcome = { ok: false, retry: true, reason: describeError(err) };
    }
    if (outcome.ok && outcome.skipped) {
      // Nothing went out (PagerDuty pages no one for maintenance): later posts may go, and the channel's last delivery stays what it was.
      attempts.inc({ channel: channelId, outcome: "skipped" });
      await markDelivered(threadOf(event), channelId, seq);
      log.info({ channel: channelId, ...about(event), type: event.type, reason: outcome.skipped }, "post skipped: nothing to send to this channel");
      return { outcome: "skipped" };
    }
    if (outcome.ok) {
      attempts.inc({ channel: channelId, outcome: "delivered" });
      await markDelivered(threadOf(event), channelId, seq);
      await recordLastDelivery(connection, keys.prefix, channelId, event, job.data.replay === true).catch((err: unknown) =>
        log.warn({ err: describeError(err), channel: channelId }, "cannot note the channel's last delivery (the post itself is delivered)"),
      );
      log.info({ channel: channelId, ...about(event), type: event.type, attempt: job.attemptsMade + 1 }, "post delivered");
      return { outcome: "delivered" };
    }
    if (outcome.disable) {
      await connection.sadd(`${keys.prefix}:notify:disabled`, channelId);
      log.error({ channel: channelId, reason: outcome.reason }, "receiver asked to be disabled (410 Gone); posts to it are dead-lettered until it is enabled");
    }
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!outcome.retry || lastAttempt) {
      await deadLetter(job, outcome.reason);
      return { outcome: "dead-lettered" };
    }
    attempts.inc({ channel: channelId, outcome: "retry" });
    log.warn({ channel: channelId, ...about(event), attempt: job.attemptsMade + 1, reason: outcome.reason }, "post failed; will retry");
    throw new RetryableDeliveryError(outcome.reason, outcome.retryAfterMs);
  }

  async function markDelivered(thread: string, channel: string, seq: number): Promise<void> {
    await connection.eval(MARK_LUA, 1, delivered(thread), channel, String(seq));
  }

  /** Gives up on a post: it goes to the dead-letter list and the next post of its incident (or window) may go. */
  async function deadLetter(job: Job<NotifyJob>, reason: string): Promise<void> {
    const letter: DeadLetter = {
      id: newId(),
      channel: job.data.channel,
      reason,
      attempts: job.attemptsMade + 1,
      failed_at: new Date().toISOString(),
      job: job.data,
    };
    attempts.inc({ channel: job.data.channel, outcome: "dead_lettered" });
    await connection.lpush(`${keys.prefix}:notify:dead`, JSON.stringify(letter));
    await connection.ltrim(`${keys.prefix}:notify:dead`, 0, 9_999);
    await markDelivered(threadOf(job.data.event), job.data.channel, job.data.seq);
    log.error({ channel: job.data.channel, ...about(job.data.event), reason }, "post dead-lettered");
  }

  const worker = new Worker<NotifyJob>(QUEUE.notify, process, {
    connection,
    prefix: bullPrefix(options.config().redis.prefix),
    concurrency: options.concurrency ?? 16,
    ...WORKER_LOCK,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => {
        const retry = options.config().notifications.retry;
        const hinted = err instanceof RetryableDeliveryError ? err.retryAfterMs : undefined;
        return Math.max(hinted ?? 0, backoffDelay(attemptsMade, retry.baseMs, retry.maxMs));
      },
    },
  });
  worker.on("error", (err) => log.warn({ err: err.message }, "notify worker error"));
  metrics.observe(worker, QUEUE.notify);
  watchWorker(worker, { log, metrics });
  // BullMQ fails a job that stalled too often without running our processor: dead-letter it here,
  // or every later post of its incident on that channel would wait for it forever.
  worker.on("failed", (job, err) => {
    if (job && /stalled more than allowable limit/.test(err.message)) {
      void deadLetter(job, "the workers running this post died repeatedly; replay it once they are stable").catch((e: unknown) =>
        log.error({ err: (e as Error).message, channel: job.data.channel }, "cannot dead-letter a stalled post"),
      );
    }
  });
  return { close: () => worker.close() };
}

/** Records the highest sequence delivered (or given up on) per channel. */
const MARK_LUA = `
local current = tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "0")
if tonumber(ARGV[2]) > current then
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
  redis.call("EXPIRE", KEYS[1], 2592000)
end
return 1
`;

