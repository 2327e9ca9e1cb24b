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
 * a live message, a gap fill, a mode switch's hand-over) runs one task at a
 * time, in arrival order, so replayed and live messages never interleave out
 * of order.
 */
class Channel {
  readonly members = new Map<Client, Member>();
  /** The last live message the node handed out on this channel. */
  position?: Position;
  private readonly tasks: (() => void | Promise<void>)[] = [];
  private busy = false;

  constructor(
    readonly name: string,
    /** Where this channel's serials and history come from; changed only in the channel's turn. */
    public delivery: Broker,
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

/** How the node publishes: through the cache or into its own history (cache-modes.ts decides). */
export type Publish = (channel: string, dataJson: string) => Promise<Delivery>;

/**
 * Run in a channel's turn when its delivery moves to another broker: hands
 * out (through `handOut`) what the old broker still owes, given the last
 * position handed out from it, and says where the new broker's live
 * messages start (undefined: from its next one).
 */
export type HandOver = (channel: string, last: Position | undefined, handOut: (delivery: Delivery) => void) => Promise<Position | undefined> | Position | undefined;

/**
 * The channels of one node: who is subscribed, what each was last given, and
 * how a subscribe with `since` replays history exactly once before live
 * messages continue.
 */
export class ChannelHub {
  private readonly channels = new Map<string, Channel>();
  readonly stats: HubStats = { deliveries: 0, resumes: { recovered: 0, missed: 0 } };
  /** Publishes sent and not yet answered. */
  private inFlight = 0;
  /** Set while the way of publishing is being changed: publishes wait for it. */
  private switching?: Promise<void>;
  /**
   * A broker whose live feed channels are kept on as well, while a mode
   * switch needs it (the cache, while its delivery is not yet or no longer
   * the one subscribers see).
   */
  alsoWatch?: Broker;

  constructor(
    private delivery: Broker,
    private publisher: Publish,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.channels.size;
  }

  /** The channels with subscribers on this node. */
  names(): string[] {
    return [...this.channels.keys()];
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
    this.alsoWatch?.watch(name).catch((err: unknown) => this.log.debug({ channel: name, err: describeError(err) }, "cannot watch the cache's live feed during a mode switch"));
    try {
      await channel.delivery.watch(name);
    } catch (err) {
      this.leave(client, name, member);
      client.fail("cache_unavailable", `cannot subscribe to ${name}: ${describeError(err)}`, id);
      return;
    }
    channel.run(async () => {
      if (channel.members.get(client) !== member) return;
      let read;
      try {
        read = await channel.delivery.history(name, since);
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

  /** A live message of a channel whose delivery is the broker that sent it (the cache's live feed). */
  receive(name: string, delivery: Delivery): void {
    const channel = this.channels.get(name);
    if (!channel) return;
    channel.run(() => this.applyLive(channel, delivery));
  }

  /**
   * Takes a message into node-local history in the channel's turn (so its
   * serial follows everything already handed out there) and hands it out;
   * resolves with it, or undefined when `produce` refused it as a copy.
   */
  take(name: string, produce: () => Delivery | undefined): Promise<Delivery | undefined> {
    const channel = this.channels.get(name);
    if (!channel) return Promise.resolve(produce());
    return new Promise((resolve, reject) => {
      channel.run(() => {
        let delivery: Delivery | undefined;
        try {
          delivery = produce();
        } catch (err) {
          reject(err);
          return;
        }
        resolve(delivery);
        if (delivery) return this.applyLive(channel, delivery);
      });
    });
  }

  /** After `from`'s live feed was interrupted: fill the gap of every channel delivered from it. */
  resync(from: Broker): void {
    for (const channel of this.channels.values()) {
      channel.run(async () => {
        const position = channel.position;
        if (!position || channel.delivery !== from) return;
        await this.fill(channel, position, Number.POSITIVE_INFINITY);
      });
    }
  }

  /**
   * Moves where subscribers' serials and history come from to `next`,
   * without dropping a connection: each channel moves in its own turn, after
   * the work already queued on it, with `handOver` saying what the old
   * broker still owes and where `next` starts. Channels subscribed to from
   * now on start on `next`. Resolves once every channel has moved.
   */
  async deliverFrom(next: Broker, handOver: HandOver): Promise<void> {
    this.delivery = next;
    await Promise.all(
      [...this.channels.values()].map(
        (channel) =>
          new Promise<void>((resolve) => {
            channel.run(async () => {
              let start: Position | undefined;
              try {
                start = await handOver(channel.name, channel.position, (delivery) => this.fanOut(channel, delivery));
              } catch (err) {
                this.log.warn({ channel: channel.name, err: describeError(err) }, "the old broker could not hand the channel over; messages published meanwhile may be missed");
              }
              channel.delivery = next;
              channel.position = start;
              resolve();
            });
          }),
      ),
    );
  }

  /**
   * Changes how this node publishes. Publishes wait while it happens; those
   * already sent finish first (or after `settleMs`), so a publisher's
   * messages keep their order across the change.
   */
  async setPublisher(next: Publish, settleMs: number): Promise<void> {
    while (this.switching) await this.switching;
    let done!: () => void;
    this.switching = new Promise<void>((resolve) => (done = resolve));
    try {
      const deadline = Date.now() + settleMs;
      while (this.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
      if (this.inFlight > 0) this.log.warn({ in_flight: this.inFlight, settle_ms: settleMs }, "publishes still unanswered when the way of publishing changed");
      this.publisher = next;
    } finally {
      this.switching = undefined;
      done();
    }
  }

  async publish(name: string, dataJson: string): Promise<Delivery> {
    while (this.switching) await this.switching;
    this.inFlight++;
    try {
      return await this.publisher(name, dataJson);
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
      const read = await channel.delivery.history(channel.name, from);
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
    if (!channel) this.channels.set(name, (channel = new Channel(name, this.delivery, this.log)));
    return channel;
  }

  private leave(client: Client, name: string, member: Member): void {
    const channel = this.channels.get(name);
    client.subscriptions.delete(name);
    if (!channel || channel.members.get(client) !== member) return;
    channel.members.delete(client);
    if (channel.members.size === 0) {
      this.channels.delete(name);
      for (const broker of new Set([channel.delivery, this.delivery, this.alsoWatch])) broker?.unwatch(name);
    }
  }
}
