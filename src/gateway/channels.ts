import { describeError, type Logger } from "../core/index.ts";
import type { Broker } from "./broker.ts";
import type { Client } from "./client.ts";
import type { RequestId } from "./protocol.ts";
import { formatSerial, parseSerial, type Position } from "./serial.ts";
import type { Delivery } from "./transport.ts";

interface Member {
  client: Client;
  /** Live messages reach a member only once its subscribe (and replay) is done. */
  ready: boolean;
  /** The last message this member was given: nothing at or before it is sent again. */
  epoch?: string;
  offset: number;
}

/**
 * One channel on this node. Work on a channel (a subscribe with its replay,
 * a live message, a gap fill) runs one task at a time, in arrival order, so
 * replayed and live messages never interleave out of order.
 */
class Channel {
  readonly members = new Map<Client, Member>();
  /** The last live message the node handed out on this channel. */
  position?: Position;
  private readonly tasks: (() => void | Promise<void>)[] = [];
  private busy = false;

  constructor(
    readonly name: string,
    private readonly log: Logger,
  ) {}

  run(task: () => void | Promise<void>): void {
    this.tasks.push(task);
    if (!this.busy) this.drain();
  }

  private drain(): void {
    this.busy = true;
    while (this.tasks.length > 0) {
      const task = this.tasks.shift()!;
      let pending: void | Promise<void> = undefined;
      try {
        pending = task();
      } catch (err) {
        this.log.error({ err: describeError(err), channel: this.name }, "channel task failed");
      }
      if (pending) {
        pending
          .catch((err: unknown) => this.log.error({ err: describeError(err), channel: this.name }, "channel task failed"))
          .finally(() => this.drain());
        return;
      }
    }
    this.busy = false;
  }
}

export interface HubStats {
  deliveries: number;
  resumes: { recovered: number; missed: number };
}

/**
 * The channels of one node: who is subscribed, what each was last given, and
 * how a subscribe with `since` replays history exactly once before live
 * messages continue.
 */
export class ChannelHub {
  private readonly channels = new Map<string, Channel>();
  readonly stats: HubStats = { deliveries: 0, resumes: { recovered: 0, missed: 0 } };
  /** Publishes sent to the broker and not yet answered. */
  private inFlight = 0;
  /** The last serial this node's publishes got, per channel with local subscribers. */
  private readonly published = new Map<string, Position>();
  /** Set while the broker is being switched: publishes wait for it. */
  private switching?: Promise<void>;

  constructor(
    private broker: Broker,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.channels.size;
  }

  get mode(): Broker["mode"] {
    return this.broker.mode;
  }

  ready(): Promise<void> {
    return this.broker.ready();
  }

  /**
   * Subscribes a client: starts live delivery to the node first, then reads
   * history, so that every message is either replayed or delivered live, and
   * a message that is both is sent once.
   */
  async subscribe(client: Client, name: string, sinceSerial: string | undefined, id: RequestId): Promise<void> {
    if (client.subscriptions.has(name)) this.unsubscribe(client, name);
    const since = sinceSerial === undefined ? undefined : parseSerial(sinceSerial);
    const channel = this.channel(name);
    const member: Member = { client, ready: false, offset: 0 };
    channel.members.set(client, member);
    client.subscriptions.add(name);
    const broker = this.broker;
    try {
      await broker.watch(name);
    } catch (err) {
      this.leave(client, name, member);
      client.fail("cache_unavailable", `cannot subscribe to ${name}: ${describeError(err)}`, id);
      return;
    }
    channel.run(async () => {
      if (channel.members.get(client) !== member) return;
      let read;
      try {
        read = await broker.history(name, since);
      } catch (err) {
        this.leave(client, name, member);
        client.fail("cache_unavailable", `cannot subscribe to ${name}: ${describeError(err)}`, id);
        return;
      }
      if (channel.members.get(client) !== member) return;
      client.control({ type: "subscribed", channel: name, id, serial: formatSerial(read.top), recovered: read.recovered });
      for (const message of read.messages) client.deliver(message);
      this.stats.deliveries += read.messages.length;
      if (sinceSerial !== undefined) this.stats.resumes[read.recovered ? "recovered" : "missed"]++;
      const last = read.messages.at(-1);
      member.epoch = read.top.epoch;
      member.offset = Math.max(read.top.offset, last?.offset ?? 0);
      member.ready = true;
      if (!channel.position || channel.position.epoch !== read.top.epoch) channel.position = { ...read.top };
    });
  }

  unsubscribe(client: Client, name: string): void {
    const member = this.channels.get(name)?.members.get(client);
    if (member) this.leave(client, name, member);
    client.subscriptions.delete(name);
  }

  /** Forgets a client that has gone. */
  dropClient(client: Client): void {
    for (const name of [...client.subscriptions]) this.unsubscribe(client, name);
  }

  /** A live message from the broker. */
  receive(name: string, delivery: Delivery): void {
    const channel = this.channels.get(name);
    if (!channel) return;
    channel.run(() => this.applyLive(channel, delivery));
  }

  /** After the live feed was interrupted: fill every channel's gap from history. */
  resync(): void {
    for (const channel of this.channels.values()) {
      channel.run(async () => {
        const from = channel.position;
        if (!from) return;
        await this.fill(channel, from, Number.POSITIVE_INFINITY);
      });
    }
  }

  /**
   * Switches between the cache and node-local brokers without dropping a
   * connection. Publishes wait while it happens; those already sent finish
   * and reach this node's subscribers first, so nothing published here is
   * lost or reordered by the switch. The new broker's serials start a new
   * epoch, so a client that resumes across the switch is told it may have
   * missed messages.
   */
  async setBroker(next: Broker, settleMs = 2_000): Promise<void> {
    while (this.switching) await this.switching;
    let done!: () => void;
    this.switching = new Promise<void>((resolve) => (done = resolve));
    try {
      await this.settle(settleMs);
      await this.swap(next);
    } finally {
      this.switching = undefined;
      done();
    }
  }

  /** Waits (bounded) for in-flight publishes and for their live echoes to reach this node. */
  private async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const delivered = (): boolean =>
      [...this.published].every(([name, sent]) => {
        const position = this.channels.get(name)?.position;
        return !position || position.epoch !== sent.epoch || position.offset >= sent.offset;
      });
    while ((this.inFlight > 0 || !delivered()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    this.published.clear();
  }

  private async swap(next: Broker): Promise<void> {
    const previous = this.broker;
    this.broker = next;
    await Promise.all(
      [...this.channels.keys()].map((name) =>
        next.watch(name).catch((err: unknown) => this.log.warn({ channel: name, err: describeError(err) }, "cannot watch channel after mode switch")),
      ),
    );
    for (const channel of this.channels.values()) {
      channel.run(() => {
        channel.position = undefined;
      });
      previous.unwatch(channel.name);
    }
    await previous.close();
  }

  async publish(name: string, dataJson: string): Promise<Delivery> {
    while (this.switching) await this.switching;
    this.inFlight++;
    try {
      const delivery = await this.broker.publish(name, dataJson);
      if (this.channels.has(name)) this.published.set(name, { epoch: delivery.epoch, offset: delivery.offset });
      return delivery;
    } finally {
      this.inFlight--;
    }
  }

  private applyLive(channel: Channel, delivery: Delivery): void | Promise<void> {
    const last = channel.position;
    if (last && last.epoch === delivery.epoch) {
      if (delivery.offset <= last.offset) return;
      if (delivery.offset > last.offset + 1) return this.fill(channel, last, delivery.offset).then(() => this.fanOut(channel, delivery));
    }
    this.fanOut(channel, delivery);
  }

  /** Hands out, from history, the messages after `from` and before `until` that the node never saw live. */
  private async fill(channel: Channel, from: Position, until: number): Promise<void> {
    try {
      const read = await this.broker.history(channel.name, from);
      for (const message of read.messages) if (message.offset < until) this.fanOut(channel, message);
      if (!read.recovered) this.log.warn({ channel: channel.name }, "messages left history before this node could deliver them");
    } catch (err) {
      this.log.warn({ channel: channel.name, err: describeError(err) }, "cannot fill a gap from history");
    }
  }

  private fanOut(channel: Channel, delivery: Delivery): void {
    const position = channel.position;
    if (position && position.epoch === delivery.epoch && delivery.offset <= position.offset) return;
    channel.position = { epoch: delivery.epoch, offset: delivery.offset };
    let delivered = 0;
    for (const member of channel.members.values()) {
      if (!member.ready) continue;
      if (member.epoch === delivery.epoch && delivery.offset <= member.offset) continue;
      member.epoch = delivery.epoch;
      member.offset = delivery.offset;
      member.client.deliver(delivery);
      delivered++;
    }
    this.stats.deliveries += delivered;
  }

  private channel(name: string): Channel {
    let channel = this.channels.get(name);
    if (!channel) this.channels.set(name, (channel = new Channel(name, this.log)));
    return channel;
  }

  private leave(client: Client, name: string, member: Member): void {
    const channel = this.channels.get(name);
    client.subscriptions.delete(name);
    if (!channel || channel.members.get(client) !== member) return;
    channel.members.delete(client);
    if (channel.members.size === 0) {
      this.channels.delete(name);
      this.broker.unwatch(name);
    }
  }
}
