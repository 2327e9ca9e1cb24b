import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/index.ts";
import { NotFoundError } from "../core/index.ts";
import type { StatusStore } from "../status/index.ts";
import type { DeadLetter } from "./notify.ts";
import { deliveryOptions } from "./outbox.ts";
import { bullPrefix, QUEUE, type NotifyJob } from "./queues.ts";

/** The dead-letter list and disabled channels, for people (the admin API). */
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

  /** Sends a dead-lettered post again (out of its incident's order: it is a person's call). */
  async replay(id: string): Promise<{ replayed: string; channel: string }> {
    const letters = await this.options.connection.lrange(this.key("dead"), 0, -1);
    const raw = letters.find((json) => (JSON.parse(json) as DeadLetter).id === id);
    if (!raw) throw new NotFoundError(`dead letter ${id}`);
    const letter = JSON.parse(raw) as DeadLetter;
    await this.queue.add("post", { ...letter.job, replay: true }, { ...deliveryOptions(this.options.config()), jobId: `${letter.job.event.update.id}.${letter.channel}.replay.${id}` });
    await this.options.connection.lrem(this.key("dead"), 1, raw);
    return { replayed: id, channel: letter.channel };
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
