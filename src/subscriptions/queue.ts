import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { bullPrefix } from "../pipeline/index.ts";
import type { ConfirmationSender } from "./context.ts";
import type { PendingSubscription } from "./model.ts";

/** The BullMQ queue of deliveries to subscribers (posts and confirmation requests). */
export const SUBSCRIPTIONS_QUEUE = "subscriptions";

/** One delivery to one subscriber, or one confirmation request. */
export type SubscriptionJob =
  | {
      kind: "post";
      /** The stored post (see SubscriberStore.post). */
      post: string;
      subscriber: string;
      /** Posts of a thread (an incident, a component) reach each subscriber in order. */
      thread: string;
      seq: number;
      /** The sequence that must be delivered (or given up on) first; 0 for none. */
      after: number;
    }
  | { kind: "confirm"; pending: string };

/** Retries as for on-call channels (notifications.retry_base, retry_max, attempts). */
export function subscriptionJobOptions(config: Config) {
  return {
    attempts: config.notifications.retry.attempts,
    backoff: { type: "subscriber" },
    removeOnComplete: { age: 7 * 86_400, count: 100_000 },
    removeOnFail: { age: 7 * 86_400 },
  };
}

export function subscriptionQueue(config: Config, connection: Redis): Queue<SubscriptionJob> {
  return new Queue<SubscriptionJob>(SUBSCRIPTIONS_QUEUE, { connection, prefix: bullPrefix(config.redis.prefix) });
}

/** Queues confirmation requests for the worker role to send (what the web role hands the verbs). */
export class QueuedConfirmations implements ConfirmationSender {
  private readonly queue: Queue<SubscriptionJob>;

  constructor(private readonly options: { config: () => Config; connection: Redis }) {
    this.queue = subscriptionQueue(options.config(), options.connection);
  }

  async request(pending: PendingSubscription): Promise<void> {
    await this.queue.add("confirm", { kind: "confirm", pending: pending.id }, { ...subscriptionJobOptions(this.options.config()), jobId: `confirm.${pending.id}` });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
