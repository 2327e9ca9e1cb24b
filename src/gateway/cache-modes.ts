import { describeError, type Logger } from "../core/index.ts";
import { frameParts, type Broker, type CacheMode, type HistorySettings } from "./broker.ts";
import { ChannelHub, type HandOver } from "./channels.ts";
import { LocalBroker } from "./local-broker.ts";
import { RedisBroker } from "./redis-broker.ts";
import { parseSerial, type Position } from "./serial.ts";
import { serialOf, type Delivery } from "./transport.ts";

/**
 * The steps of a switch between cache modes, in order. The fleet takes every
 * node through one step before any node starts the next, so that at no
 * moment does a node hand a message to a path another node does not read:
 *
 * to `bypass`: relay (every publish through the cache goes to the relay
 * too), prepare (take in what the cache's live feed already sent, then
 * deliver from node-local history, still taking in the live feed), publish
 * (into node-local history), deliver (nothing left to do), finish (let go
 * of the cache).
 *
 * to `normal`: relay (already on in bypass mode), prepare (connect to the
 * cache, watch every channel, start the cache's next generation), publish
 * (through the cache, still relayed), deliver (from the cache, after handing
 * out what it has that this node has not), finish (stop relaying, let go of
 * node-local history).
 *
 * `abort` undoes a `prepare` toward `normal` that failed on some node.
 */
export const SWITCH_STEPS = ["relay", "prepare", "publish", "deliver", "finish"] as const;
export type SwitchStep = (typeof SWITCH_STEPS)[number] | "abort";

/** A message one node published, as the fleet's primary relays it to the others. */
export interface RelayedMessage {
  channel: string;
  /** The serial its publisher was acknowledged with. */
  serial: string;
  data: string;
  ts: number;
  /** True when the serial is the cache's (published through the cache), false when it is the publishing node's own. */
  cache: boolean;
}

export interface CacheModesOptions {
  /** The cache Redis; without it only `bypass` mode is possible. */
  cache?: { url: import("../core/index.ts").RedisTarget; prefix: string; timeoutMs: number };
  history: HistorySettings;
  mode: CacheMode;
  /** Hands a message published here to the fleet's primary for the other nodes; none when the node runs alone. */
  relay?: (message: RelayedMessage) => void;
  log: Logger;
}

type Source = "cache" | "local";

/** How long a switch to bypass waits for the cache's live feed to catch up (a PING's answer comes after every message sent before it); a clogged cache has sent nothing since. */
const FEED_DRAIN_MS = 250;

/**
 * Which broker one node publishes through and delivers from, and the steps
 * (SWITCH_STEPS) that move it from one cache mode to the other without
 * losing, repeating or reordering a message a publisher was acknowledged.
 *
 * The rules that make that hold: while a node delivers from node-local
 * history, every message reaches it through a path it reads (the relay, its
 * own publishes, and toward `bypass` the cache's live feed) and is taken in
 * once, by its serial (LocalBroker.take); a node delivers from the cache
 * only once no node publishes into node-local history any more, and first
 * hands out what the cache has that it has not; and no node publishes into
 * node-local history before every node delivers from it.
 */
export class CacheModes {
  readonly hub: ChannelHub;
  private cache?: RedisBroker;
  private local?: LocalBroker;
  private delivering: Source;
  private publishing: Source;
  /** Every publish goes to the relay (bypass mode, and both ways of a switch). */
  private relaying: boolean;
  /** Toward bypass: the cache's live feed still goes into node-local history (a copy the relay brought too is taken once). */
  private feedFromCache = false;
  /** The mode the last completed switch reached. */
  private settled: CacheMode;
  /** Steps run one at a time. */
  private steps: Promise<unknown> = Promise.resolve();
  private warnedStrayRelay = false;
  private readonly log: Logger;

  constructor(private readonly options: CacheModesOptions) {
    this.log = options.log.child({ module: "gateway.cache-modes" });
    this.settled = options.cache ? options.mode : "bypass";
    const source: Source = this.settled === "normal" ? "cache" : "local";
    this.delivering = source;
    this.publishing = source;
    this.relaying = source === "local";
    let delivery: Broker;
    if (source === "cache") delivery = this.cache = this.connect();
    else delivery = this.local = new LocalBroker(options.history);
    this.hub = new ChannelHub(delivery, source === "cache" ? this.publishToCache : this.publishLocally, options.log);
  }

  get mode(): CacheMode {
    return this.settled;
  }

  ready(): Promise<void> {
    return this.cache?.ready() ?? Promise.resolve();
  }

  /** Takes this node alone through every step (a node outside a fleet). */
  async switchTo(mode: CacheMode, generation = Date.now()): Promise<CacheMode> {
    await this.step(mode, "relay");
    try {
      await this.step(mode, "prepare", generation);
    } catch (err) {
      await this.step(mode, "abort");
      throw err;
    }
    for (const step of SWITCH_STEPS.slice(SWITCH_STEPS.indexOf("prepare") + 1)) await this.step(mode, step);
    return this.settled;
  }

  /**
   * Runs one step of a switch toward `mode` (after any steps before it this
   * node has not run: each is done once). `generation` (toward `normal`):
   * the same number on every node of the switch, its start.
   */
  step(mode: CacheMode, step: SwitchStep, generation = Date.now()): Promise<void> {
    const run = this.steps.then(() => (mode === "bypass" ? this.towardBypass(step) : this.towardCache(step, generation)));
    this.steps = run.catch(() => {});
    return run;
  }

  /** A message another node published, relayed by the fleet's primary. */
  relayed(message: RelayedMessage): void {
    const local = this.local;
    if (this.delivering !== "local" || !local) {
      // Through the cache, this node gets the cache's messages itself; a node's own serial only comes here when nodes were switched one by one, outside the fleet.
      if (!message.cache && !this.warnedStrayRelay) this.log.warn({ channel: message.channel }, "a message another node published in bypass mode reached a node delivering from the cache; switch cache mode through the fleet");
      this.warnedStrayRelay ||= !message.cache;
      return;
    }
    const fromCache = message.cache ? parseSerial(message.serial) : undefined;
    void this.hub.take(message.channel, () => local.take(message.channel, message.data, message.ts, fromCache));
  }

  async close(): Promise<void> {
    await this.cache?.close();
    await this.local?.close();
  }

  private async towardBypass(step: SwitchStep): Promise<void> {
    if (step === "abort" || step === "deliver") return;
    if (this.delivering === "cache") {
      this.relaying = true;
      if (step === "relay") return;
      // Every message the cache published before now is then handed out from the cache here; later ones all come by the relay as well.
      await this.cache?.drainFeed(FEED_DRAIN_MS);
      const local = (this.local ??= new LocalBroker(this.options.history));
      this.feedFromCache = true;
      this.hub.alsoWatch = this.cache;
      this.delivering = "local";
      // What the cache handed out here counts as taken, so its copy on the relay or the live feed is not handed out again.
      await this.hub.deliverFrom(local, (channel, last) => {
        if (last) local.takenUpTo(channel, last);
        return undefined;
      });
    }
    if (step === "prepare") return;
    if (this.publishing === "cache") {
      await this.hub.setPublisher(this.publishLocally, this.settleMs());
      this.publishing = "local";
    }
    if (step === "publish") return;
    this.feedFromCache = false;
    this.hub.alsoWatch = undefined;
    const cache = this.cache;
    this.cache = undefined;
    await cache?.close();
    this.settled = "bypass";
  }

  private async towardCache(step: SwitchStep, generation: number): Promise<void> {
    if (step === "abort") return this.abortTowardCache();
    if (step === "relay") return;
    if (this.publishing === "local" || this.delivering === "local") {
      if (!this.options.cache) throw new Error("no cache Redis is configured, so normal mode is unavailable");
      if (step === "prepare") return this.prepareCache(generation);
      if (!this.cache) await this.prepareCache(generation);
      if (this.publishing === "local") {
        await this.hub.setPublisher(this.publishToCache, this.settleMs());
        this.publishing = "cache";
      }
      if (step === "publish") return;
      if (this.delivering === "local") {
        const cache = this.cache!;
        this.delivering = "cache";
        this.hub.alsoWatch = undefined;
        await this.hub.deliverFrom(cache, this.handOverToCache(cache, this.local!));
      }
    }
    if (step !== "finish") return;
    this.relaying = false;
    const local = this.local;
    this.local = undefined;
    await local?.close();
    this.settled = "normal";
  }

  /**
   * Connects to the cache (unless still connected), raises its generation
   * (so every channel starts a new epoch there: its history lacks what was
   * published in bypass mode), watches every channel, and notes where each
   * one's new epoch starts.
   */
  private async prepareCache(generation: number): Promise<void> {
    const cache = this.cache ?? this.connect();
    const local = (this.local ??= new LocalBroker(this.options.history));
    try {
      await cache.ready();
      await cache.raiseGeneration(generation);
      await Promise.all(
        this.hub.names().map(async (channel) => {
          await cache.watch(channel);
          local.takenUpTo(channel, (await cache.history(channel, undefined)).top);
        }),
      );
    } catch (err) {
      if (cache !== this.cache) await cache.close();
      throw new Error(`cannot switch to normal mode: ${describeError(err)}`);
    }
    this.cache = cache;
    this.feedFromCache = false;
    this.hub.alsoWatch = cache;
  }

  /** Back to plain bypass after a `prepare` toward normal (here or on another node) failed. */
  private async abortTowardCache(): Promise<void> {
    if (this.publishing !== "local" || this.delivering !== "local" || !this.cache) return;
    const cache = this.cache;
    this.cache = undefined;
    this.hub.alsoWatch = undefined;
    await cache.close();
  }

  /**
   * Hands a channel over from node-local history to the cache: the cache's
   * messages this node has not taken in yet (they were on their way through
   * the relay) are handed out first, under node-local serials, and live
   * messages then start after the cache's top.
   */
  private handOverToCache(cache: RedisBroker, local: LocalBroker): HandOver {
    return async (channel, _last, handOut) => {
      await cache.watch(channel);
      const progress = local.cacheProgress(channel);
      let read = await cache.history(channel, progress);
      // No message of the current epoch taken in yet: every one of it came after the return (the generation started it), so all are owed.
      if (!progress || read.top.epoch !== progress.epoch) read = await cache.history(channel, { epoch: read.top.epoch, offset: 0 });
      for (const message of read.messages) {
        const { dataJson, ts } = frameParts(message.text);
        const taken = local.take(channel, dataJson, ts, message);
        if (taken) handOut(taken);
      }
      if (!read.recovered) this.log.warn({ channel, top: read.top.offset }, "messages left the cache's history before this node could hand them out");
      return read.top;
    };
  }

  /** Publishes through the cache; while switching, relays the message and takes it into node-local history too. */
  private readonly publishToCache = async (channel: string, dataJson: string): Promise<Delivery> => {
    const cache = this.cache;
    if (!cache) throw new Error("the cache is not connected");
    const delivery = await cache.publish(channel, dataJson);
    if (!this.relaying && this.delivering === "cache") return delivery;
    const { ts } = frameParts(delivery.text);
    const fromCache: Position = { epoch: delivery.epoch, offset: delivery.offset };
    if (this.relaying) this.options.relay?.({ channel, serial: serialOf(delivery), data: dataJson, ts, cache: true });
    const local = this.local;
    if (this.delivering === "local" && local) await this.hub.take(channel, () => local.take(channel, dataJson, ts, fromCache));
    return delivery;
  };

  /** Publishes into node-local history and relays it to the other nodes. */
  private readonly publishLocally = async (channel: string, dataJson: string): Promise<Delivery> => {
    const local = this.local;
    if (!local) throw new Error("node-local history is not open");
    const ts = Date.now();
    const delivery = (await this.hub.take(channel, () => local.take(channel, dataJson, ts)))!;
    if (this.relaying) this.options.relay?.({ channel, serial: serialOf(delivery), data: dataJson, ts, cache: false });
    return delivery;
  };

  /** The cache's live feed: to subscribers while delivering from the cache; into node-local history while switching to bypass. */
  private fromCache(channel: string, delivery: Delivery): void {
    if (this.delivering === "cache") return this.hub.receive(channel, delivery);
    const local = this.local;
    if (!this.feedFromCache || !local) return;
    const { dataJson, ts } = frameParts(delivery.text);
    void this.hub.take(channel, () => local.take(channel, dataJson, ts, delivery));
  }

  private connect(): RedisBroker {
    const cache = this.options.cache!;
    const broker: RedisBroker = new RedisBroker({
      url: cache.url,
      prefix: cache.prefix,
      history: this.options.history,
      timeoutMs: cache.timeoutMs,
      log: this.options.log,
      onMessage: (channel, delivery) => this.fromCache(channel, delivery),
      onResync: () => this.hub.resync(broker),
    });
    return broker;
  }

  /** How long a change of publishing waits for publishes already sent: a cache that does not answer fails them within its timeout. */
  private settleMs(): number {
    return (this.options.cache?.timeoutMs ?? 1_000) * 2;
  }
}
