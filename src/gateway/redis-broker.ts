import type { Result } from "ioredis";
import type { RedisConnection as Redis } from "../core/index.ts";
import { UpstreamError, connectRedis, describeError, isClusterTarget, newId, sleep, type Logger, type RedisTarget } from "../core/index.ts";
import { messageFrame, type Broker, type HistoryRead, type HistorySettings } from "./broker.ts";
import { GENERATION_LUA, HISTORY_LUA, PUBLISH_LUA } from "./redis-scripts.ts";
import type { Position } from "./serial.ts";
import type { Delivery } from "./transport.ts";

export interface RedisBrokerOptions {
  /** The cache Redis: a URL, a Sentinel group or a Redis Cluster. */
  url: RedisTarget;
  /** Key prefix in the cache Redis. */
  prefix: string;
  history: HistorySettings;
  /** How long a command may wait for the cache before it fails. */
  timeoutMs: number;
  log: Logger;
  onMessage: (channel: string, delivery: Delivery) => void;
  /** Called after the live connection came back: messages may have been missed. */
  onResync: () => void;
}

/**
 * `normal` mode: serials and history in the cache Redis (a stream per
 * channel, bounded by count and by time since the last publish), fan-out
 * across nodes through Redis pub/sub. A stalled cache makes publish and
 * history fail within `timeoutMs`; they never hang.
 *
 * On a Redis Cluster each channel's keys and live channel share its slot
 * (`{channel}`), so channels spread over the primaries, and fan-out is
 * sharded pub/sub (SPUBLISH / SSUBSCRIBE): a message travels only within
 * its channel's shard instead of to every node of the cluster.
 *
 * The cache keeps a generation, raised each time the fleet comes back from
 * bypass mode: a channel whose epoch is older starts a new one when it is
 * next used, so a serial from before the bypass never resumes as if the
 * cache had everything published since.
 */
export class RedisBroker implements Broker {
  readonly mode = "normal";
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly watching = new Map<string, Promise<void>>();
  private readonly livePrefix: string;
  private readonly log: Logger;
  /** Sharded pub/sub: the cache is a Redis Cluster. */
  private readonly sharded: boolean;
  private lostLive = false;
  /** The newest generation this broker knows of (see GENERATION_LUA). */
  private generation = 0;

  constructor(private readonly options: RedisBrokerOptions) {
    this.log = options.log.child({ module: "gateway.cache" });
    this.livePrefix = `${options.prefix}:live:`;
    this.sharded = isClusterTarget(options.url);
    const base = {
      connectTimeout: options.timeoutMs,
      commandTimeout: options.timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 4), 1_000),
    };
    this.commands = connectRedis(options.url, { profile: "command", name: "gateway", tuning: base });
    this.subscriber = connectRedis(options.url, { profile: "command", name: "gateway-live", tuning: { ...base, enableOfflineQueue: true }, shardedSubscribers: this.sharded });
    this.commands.defineCommand("pbgwPublish", { numberOfKeys: 2, lua: PUBLISH_LUA });
    this.commands.defineCommand("pbgwHistory", { numberOfKeys: 2, lua: HISTORY_LUA });
    this.commands.defineCommand("pbgwGeneration", { numberOfKeys: 1, lua: GENERATION_LUA });
    this.commands.on("error", () => {});
    // On every (re)connection: a node started, or cut off, while the fleet came back from bypass mode learns the generation here.
    this.commands.on("ready", () => void this.raiseGeneration(0).catch(() => {}));
    this.subscriber.on("error", (err: Error) => {
      if (!this.lostLive) this.log.warn({ err: describeError(err) }, "cache live connection lost; publishes fail until it is back");
      this.lostLive = true;
    });
    let connectedBefore = false;
    this.subscriber.on("ready", () => {
      // The first ready is the start; every later one is a reconnect, with or without an error seen.
      if (!connectedBefore) {
        connectedBefore = true;
        return;
      }
      this.lostLive = false;
      this.log.info("cache live connection back; subscribing again and filling gaps from history");
      // A restarted cache has forgotten every subscription: ask again for each watched channel (harmless if ioredis did too).
      for (const channel of this.watching.keys()) this.subscribeLive(channel).catch(() => {});
      options.onResync();
    });
    if (this.sharded) this.followShards();
    else this.subscriber.on("message", (redisChannel: string, payload: string) => this.receive(redisChannel, payload));
  }

  /**
   * A cluster's sharded subscribers come and go with its primaries: one
   * lost (its primary failed) may have missed messages, so once ioredis has
   * subscribed again on the new primaries the gaps are filled from history.
   */
  private followShards(): void {
    this.subscriber.on("smessage", (redisChannel: string, payload: string) => this.receive(redisChannel, payload));
    this.subscriber.on("-subscriber", () => {
      if (!this.lostLive) this.log.warn("a cache shard's live connection was lost; its channels miss live messages until the cluster has a primary for them");
      this.lostLive = true;
    });
    this.subscriber.on("subscribersReady", () => {
      if (!this.lostLive) return;
      this.lostLive = false;
      this.log.info("cache shards' live connections back; filling gaps from history");
      this.options.onResync();
    });
  }

  /** Both connections up, or an UpstreamError after a few cache timeouts. */
  async ready(): Promise<void> {
    const waitMs = Math.max(this.options.timeoutMs * 3, 1_000);
    const up = (redis: Redis) =>
      redis.status === "ready" ? Promise.resolve() : new Promise<void>((resolve) => redis.once("ready", () => resolve()));
    await this.guard(
      Promise.race([
        Promise.all([up(this.commands), up(this.subscriber)]),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`not connected after ${waitMs} ms`)), waitMs).unref()),
      ]),
    );
  }

  async publish(channel: string, dataJson: string): Promise<Delivery> {
    const ts = Date.now();
    const { history } = this.options;
    const serial = await this.guard(
      this.commands.pbgwPublish(
        this.metaKey(channel),
        this.historyKey(channel),
        dataJson,
        channel,
        String(ts),
        String(history.size),
        String(seconds(history.ttlMs)),
        String(seconds(history.metaTtlMs)),
        newId(8),
        this.liveChannel(channel),
        String(this.generation),
        this.sharded ? "SPUBLISH" : "PUBLISH",
      ),
    );
    const [epoch, offset] = serial.split(":") as [string, string];
    return { epoch, offset: Number(offset), text: messageFrame(channel, serial, dataJson, ts) };
  }

  async history(channel: string, since: Position | undefined): Promise<HistoryRead> {
    const reply = await this.guard(
      this.commands.pbgwHistory(
        this.metaKey(channel),
        this.historyKey(channel),
        since?.epoch ?? "",
        String(since?.offset ?? 0),
        newId(8),
        String(seconds(this.options.history.metaTtlMs)),
        String(this.generation),
      ),
    );
    const [epoch, top, recovered, ...rest] = reply as [string, number, number, ...(string | number)[]];
    const messages: Delivery[] = [];
    for (let i = 0; i < rest.length; i += 2) messages.push({ epoch, offset: Number(rest[i]), text: String(rest[i + 1]) });
    return { top: { epoch, offset: Number(top) }, messages, recovered: recovered === 1 };
  }

  /**
   * Raises the cache's generation to at least `generation` (the moment the
   * fleet came back from bypass mode) and uses what is then in force.
   */
  async raiseGeneration(generation: number): Promise<void> {
    const inForce = await this.guard(this.commands.pbgwGeneration(this.generationKey(), String(Math.max(generation, this.generation))));
    this.generation = Math.max(this.generation, Number(inForce) || 0);
  }

  /**
   * Resolves once every message the cache sent this node's live connection
   * before now has been handed to `onMessage` (the answer to a PING follows
   * them), or after `maxMs`.
   */
  async drainFeed(maxMs: number): Promise<void> {
    // A cluster's PING goes to a node of its choosing, not down the shards' subscriber connections: give them a moment instead.
    if (this.sharded) return sleep(Math.min(maxMs, CLUSTER_FEED_DRAIN_MS));
    await withTimeout(this.subscriber.ping(), maxMs).catch(() => {});
  }

  async watch(channel: string): Promise<void> {
    let ready = this.watching.get(channel);
    if (!ready) {
      // Bounded: a SUBSCRIBE queued while the cache was away must not hold this channel's watchers for good.
      ready = this.guard(withTimeout(this.subscribeLive(channel), Math.max(this.options.timeoutMs * 3, 1_000))).then(() => undefined);
      this.watching.set(channel, ready);
      ready.catch(() => {
        if (this.watching.get(channel) === ready) this.watching.delete(channel);
      });
    }
    return ready;
  }

  unwatch(channel: string): void {
    if (!this.watching.delete(channel)) return;
    (this.sharded ? this.subscriber.sunsubscribe(this.liveChannel(channel)) : this.subscriber.unsubscribe(this.liveChannel(channel))).catch(() => {});
  }

  private subscribeLive(channel: string): Promise<unknown> {
    return this.sharded ? this.subscriber.ssubscribe(this.liveChannel(channel)) : this.subscriber.subscribe(this.liveChannel(channel));
  }

  async close(): Promise<void> {
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  private receive(redisChannel: string, payload: string): void {
    if (!redisChannel.startsWith(this.livePrefix)) return;
    const channel = redisChannel.slice(this.livePrefix.length + 1, -1);
    const newline = payload.indexOf("\n");
    const colon = payload.indexOf(":");
    if (newline < 0 || colon < 0 || colon > newline) return;
    this.options.onMessage(channel, {
      epoch: payload.slice(0, colon),
      offset: Number(payload.slice(colon + 1, newline)),
      text: payload.slice(newline + 1),
    });
  }

  /** Turns any cache failure into one error that says what it means for the client. */
  private async guard<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      throw new UpstreamError(`the cache did not answer within ${this.options.timeoutMs} ms (${describeError(err)})`, { cause: err });
    }
  }

  private generationKey(): string {
    return `${this.options.prefix}:generation`;
  }

  private metaKey(channel: string): string {
    return `${this.options.prefix}:{${channel}}:meta`;
  }

  private historyKey(channel: string): string {
    return `${this.options.prefix}:{${channel}}:history`;
  }

  private liveChannel(channel: string): string {
    return `${this.livePrefix}{${channel}}`;
  }
}

/** How long a switch of cache mode waits for a cluster's shards to hand over what they sent (see drainFeed). */
const CLUSTER_FEED_DRAIN_MS = 100;

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

declare module "ioredis" {
  interface RedisCommander<Context> {
    pbgwPublish(...args: string[]): Result<string, Context>;
    pbgwHistory(...args: string[]): Result<(string | number)[], Context>;
    pbgwGeneration(...args: string[]): Result<string, Context>;
  }
}

/** The work's answer, or a rejection once `ms` have passed without one. */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
