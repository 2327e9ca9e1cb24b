import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { NotFoundError } from "../core/index.ts";
import { isMaintenanceEvent } from "../notify/index.ts";
import type { StatusStore } from "../status/index.ts";
import { lastDeliveries, type LastDelivery } from "./last-delivery.ts";
import type { DeadLetter } from "./notify.ts";
import { deliveryOptions } from "./outbox.ts";
import { bullPrefix, QUEUE, type NotifyJob } from "./queues.ts";

/** A configured on-call channel as people see it: never its settings (URLs, keys). */
export interface ChannelView {
  id: string;
  kind: string;
  /** Its receiver answered 410 Gone: posts to it are dead-lettered until a person enables it. */
  disabled: boolean;
  /** The last post its receiver took; null when it has taken none (or none since this was recorded). */
  last_delivery: LastDelivery | null;
}

/** The dead-letter list, channels and their last deliveries, for people (the admin API, the console). */
export class NotificationControl {
  private readonly queue: Queue<NotifyJob>;

  constructor(private readonly options: { config: () => Config; connection: Redis; store: StatusStore }) {
    this.queue = new Queue<NotifyJob>(QUEUE.notify, { connection: options.connection, prefix: bullPrefix(options.config().redis.prefix) });
  }

  private key(name: string): string {
    return `${this.options.store.keys.prefix}:notify:${name}`;
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    return (await this.options.connection.lrange(this.key("dead"), 0, limit - 1)).map((json) => JSON.parse(json) as DeadLetter);
  }

  /** One dead letter, or undefined when there is none by that id (replayed already, or never one). */
  async deadLetter(id: string): Promise<DeadLetter | undefined> {
    return (await this.findDeadLetter(id))?.letter;
  }

  /** Every configured channel, in config order, with whether it is disabled and its last delivery. */
  async channels(): Promise<ChannelView[]> {
    const [disabled, last] = await Promise.all([this.disabledChannels(), lastDeliveries(this.options.connection, this.options.store.keys.prefix)]);
    return this.options.config().notifications.channels.map((c) => ({ id: c.id, kind: c.kind, disabled: disabled.includes(c.id), last_delivery: last.get(c.id) ?? null }));
  }

  /** Sends a dead-lettered post again (out of its incident's order: it is a person's call). */
  async replay(id: string): Promise<{ replayed: string; channel: string }> {
    const found = await this.findDeadLetter(id);
    if (!found) throw new NotFoundError(`dead letter ${id}`);
    const { letter, raw } = found;
    const { event } = letter.job;
    // Named after the post it replays: an incident's timeline entry, or a maintenance notice.
    const post = isMaintenanceEvent(event) ? event.id : event.update.id;
    await this.queue.add("post", { ...letter.job, replay: true }, { ...deliveryOptions(this.options.config()), jobId: `${post}.${letter.channel}.replay.${id}` });
    await this.options.connection.lrem(this.key("dead"), 1, raw);
    return { replayed: id, channel: letter.channel };
  }

  private async findDeadLetter(id: string): Promise<{ letter: DeadLetter; raw: string } | undefined> {
    for (const raw of await this.options.connection.lrange(this.key("dead"), 0, -1)) {
      const letter = JSON.parse(raw) as DeadLetter;
      if (letter.id === id) return { letter, raw };
    }
    return undefined;
  }

  async disabledChannels(): Promise<string[]> {
    return this.options.connection.smembers(this.key("disabled"));
  }

  async enableChannel(channel: string): Promise<void> {
    if (!this.options.config().notifications.channels.some((c) => c.id === channel)) throw new NotFoundError(`channel ${channel}`);
    await this.options.connection.srem(this.key("disabled"), channel);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
