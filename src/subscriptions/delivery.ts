import { DelayedError, Worker, type Job } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { describeError, newId, scrub, type Logger } from "../core/index.ts";
import { hostOf, RetryableDeliveryError, type DeliveryOutcome } from "../notify/index.ts";
import { backoffDelay, bullPrefix, watchWorker, type RoleMetrics } from "../pipeline/index.ts";
import { readSummary, type StatusContext } from "../status/index.ts";
import { SubscriptionLinks } from "./links.ts";
import type { Subscriber, SubscriberType } from "./model.ts";
import { pageOf, type StatuspageShapes, type SubscriberPost } from "./payloads.ts";
import { SUBSCRIPTIONS_QUEUE, type SubscriptionJob } from "./queue.ts";
import { senders as defaultSenders } from "./senders/registry.ts";
import type { SenderContext, SubscriberSender } from "./senders/types.ts";
import type { SubscriberStore } from "./store.ts";
import { removeQuietly } from "./verbs/unsubscribe.ts";

/** An outer bound on one attempt; each sender has its own, shorter, timeout. */
const ATTEMPT_TIMEOUT_MS = 130_000;
/** How soon a post waiting for the one before it looks again. */
const ORDER_WAIT_MS = 250;

/** A post or confirmation request given up on. It names the subscriber by id only: addresses stay out of lists and logs. */
export interface SubscriberDeadLetter {
  id: string;
  subscriber?: string;
  type?: SubscriberType;
  reason: string;
  attempts: number;
  failed_at: string;
  job: SubscriptionJob;
}

export interface SubscriberDeliveryOptions {
  config: () => Config;
  status: StatusContext;
  store: SubscriberStore;
  shapes: StatuspageShapes;
  connection: Redis;
  log: Logger;
  /** Deliveries at once. @defaultValue 16 */
  concurrency?: number;
  /** @defaultValue the registry's */
  senders?: Record<SubscriberType, SubscriberSender>;
  /** Where its jobs are counted. @defaultValue not counted */
  metrics?: RoleMetrics;
}

/**
 * Delivers posts and confirmation requests to subscribers, as the notify
 * worker does for on-call channels: each subscriber gets a thread's posts
 * in order, failures a retry can fix are retried with backoff (honouring
 * Retry-After), the rest go to the dead-letter list. A subscriber whose
 * endpoint answers 410 Gone is removed. At least once: a repeat carries
 * the same `webhook-id` (or Message-ID).
 */
export function startSubscriberDelivery(options: SubscriberDeliveryOptions): { close(): Promise<void> } {
  const { store, connection } = options;
  const senders = options.senders ?? defaultSenders;
  const log = options.log.child({ module: "subscriptions.delivery" });

  async function senderContext(config: Config, signal: AbortSignal, fields: Record<string, unknown>): Promise<SenderContext> {
    const links = new SubscriptionLinks(config.page.url, await store.linkSigner(config.subscriptions.secret));
    return { signal, log: log.child(fields), config, links };
  }

  async function process(job: Job<SubscriptionJob>, token?: string): Promise<{ outcome: string }> {
    return job.data.kind === "confirm" ? confirm(job as Job<Extract<SubscriptionJob, { kind: "confirm" }>>) : post(job as Job<Extract<SubscriptionJob, { kind: "post" }>>, token);
  }

  async function confirm(job: Job<Extract<SubscriptionJob, { kind: "confirm" }>>): Promise<{ outcome: string }> {
    const found = await store.pending(job.data.pending);
    if (!found || found.pending.confirmed_as) return { outcome: "no longer pending" };
    const { pending } = found;
    const config = options.config();
    const ctx = await senderContext(config, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), { pending: pending.id, type: pending.type });
    const request = { page: pageOf(options.shapes, await readSummary(options.status)), confirm_url: ctx.links.confirm(pending.id), expires_at: pending.expires_at, components: pending.components };
    const outcome = await attempt(() => senders[pending.type].confirm(pending, request, ctx), pending.address);
    if (outcome.ok) {
      log.info({ pending: pending.id, type: pending.type, ...where(pending) }, "confirmation request sent");
      return { outcome: "sent" };
    }
    if (outcome.disable) return { outcome: "refused (410 Gone)" };
    return retryOrGiveUp(job, outcome, { type: pending.type });
  }

  async function post(job: Job<Extract<SubscriptionJob, { kind: "post" }>>, token?: string): Promise<{ outcome: string }> {
    const { subscriber: id, thread, seq, after } = job.data;
    const done = Number((await connection.hget(store.keys.delivered(thread), id)) ?? 0);
    if (done >= seq) return { outcome: "already delivered" };
    if (done < after) {
      await job.moveToDelayed(Date.now() + ORDER_WAIT_MS, token);
      throw new DelayedError("waiting for the post before it");
    }
    const subscriber = await store.subscriber(id);
    if (!subscriber) {
      await markDelivered(job.data);
      return { outcome: "unsubscribed" };
    }
    const stored = await store.post<SubscriberPost>(job.data.post);
    if (!stored) {
      await deadLetter(job, "the post expired before it could be delivered", subscriber);
      return { outcome: "dead-lettered" };
    }
    const config = options.config();
    const ctx = await senderContext(config, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), { subscriber: id, type: subscriber.type });
    const outcome = await attempt(() => senders[subscriber.type].post(subscriber, stored, ctx), subscriber.address);
    if (outcome.ok) {
      await markDelivered(job.data);
      log.info({ subscriber: id, post: stored.id, kind: stored.kind, attempt: job.attemptsMade + 1 }, "post delivered to subscriber");
      return { outcome: "delivered" };
    }
    if (outcome.disable) {
      await removeQuietly({ store, config: options.config }, id);
      await markDelivered(job.data);
      log.warn({ subscriber: id, type: subscriber.type, ...where(subscriber) }, "subscriber endpoint answered 410 Gone; subscription removed");
      return { outcome: "subscriber removed" };
    }
    return retryOrGiveUp(job, outcome, subscriber);
  }

  /** One send; a sender that throws counts as a failure a retry may fix. Reasons never quote the address, nor a webhook's host. */
  async function attempt(send: () => Promise<DeliveryOutcome>, address: string): Promise<DeliveryOutcome> {
    const hidden = [address, ...(URL.canParse(address) ? [new URL(address).host] : [])];
    try {
      const outcome = await send();
      return outcome.ok ? outcome : { ...outcome, reason: scrub(outcome.reason, hidden) };
    } catch (err) {
      return { ok: false, retry: true, reason: scrub(describeError(err), hidden) };
    }
  }

  async function retryOrGiveUp(job: Job<SubscriptionJob>, outcome: Extract<DeliveryOutcome, { ok: false }>, subscriber: Pick<Subscriber, "type"> & { id?: string }): Promise<{ outcome: string }> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!outcome.retry || lastAttempt) {
      await deadLetter(job, outcome.reason, subscriber);
      return { outcome: "dead-lettered" };
    }
    log.warn({ subscriber: subscriber.id, job: job.data.kind, attempt: job.attemptsMade + 1, reason: outcome.reason }, "delivery to subscriber failed; will retry");
    throw new RetryableDeliveryError(outcome.reason, outcome.retryAfterMs);
  }

  async function markDelivered(data: Extract<SubscriptionJob, { kind: "post" }>): Promise<void> {
    await connection.eval(MARK_LUA, 2, store.keys.delivered(data.thread), store.keys.queued(data.thread), data.subscriber, String(data.seq));
  }

  /** Gives up: the dead-letter list, and (for a post) the next post of its thread may go. */
  async function deadLetter(job: Job<SubscriptionJob>, reason: string, subscriber: Pick<Subscriber, "type"> & { id?: string }): Promise<void> {
    const letter: SubscriberDeadLetter = {
      id: newId(),
      subscriber: job.data.kind === "post" ? job.data.subscriber : undefined,
      type: subscriber.type,
      reason,
      attempts: job.attemptsMade + 1,
      failed_at: new Date().toISOString(),
      job: job.data,
    };
    await store.addDeadLetter(letter);
    if (job.data.kind === "post") await markDelivered(job.data);
    log.error({ subscriber: letter.subscriber, job: job.data.kind, reason }, "delivery to subscriber given up");
  }

  const worker = new Worker<SubscriptionJob>(SUBSCRIPTIONS_QUEUE, process, {
    connection,
    prefix: bullPrefix(options.config().redis.prefix),
    concurrency: options.concurrency ?? 16,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => {
        const retry = options.config().notifications.retry;
        const hinted = err instanceof RetryableDeliveryError ? err.retryAfterMs : undefined;
        return Math.max(hinted ?? 0, backoffDelay(attemptsMade, retry.baseMs, retry.maxMs));
      },
    },
  });
  worker.on("error", (err) => log.warn({ err: err.message }, "subscriber delivery worker error"));
  options.metrics?.observe(worker, SUBSCRIPTIONS_QUEUE);
  watchWorker(worker, { log, metrics: options.metrics });
  return { close: () => worker.close() };
}

/** Where a subscriber is, fit for a log line: a webhook's host, never an address or a URL's path. */
function where(subscriber: { type: SubscriberType; address: string }): Record<string, string> {
  return subscriber.type === "webhook" ? { host: hostOf(subscriber.address) } : {};
}

/**
 * Records the highest sequence delivered (or given up on) per subscriber in
 * a thread, and drops the post's claim (the dispatcher no longer needs it).
 * KEYS: delivered hash, queued hash. ARGV: subscriber, seq.
 */
const MARK_LUA = `
local current = tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "0")
if tonumber(ARGV[2]) > current then
  redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
end
redis.call("EXPIRE", KEYS[1], 2592000)
redis.call("HDEL", KEYS[2], ARGV[1] .. "#" .. ARGV[2])
return 1
`;

