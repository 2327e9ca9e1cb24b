import { newId } from "../core/index.ts";
import { messageFrame, type Broker, type HistoryRead, type HistorySettings } from "./broker.ts";
import { SeenOffsets } from "./seen-offsets.ts";
import type { Position } from "./serial.ts";
import type { Delivery } from "./transport.ts";

interface LocalChannel {
  /** Each channel's history is its own epoch: forgetting a channel starts a new one. */
  epoch: string;
  offset: number;
  entries: Delivery[];
  lastPublishAt: number;
  /** The cache's messages taken in here, per cache epoch (the last one used last). */
  fromCache?: Map<string, SeenOffsets>;
}

const SWEEP_MS = 60_000;
/** Cache epochs remembered per channel: the one being switched from or to, and a spare for a cache that lost its data meanwhile. */
const CACHE_EPOCHS = 4;

/**
 * `bypass` mode: serials and history in this node's memory. The platform
 * stays alive without its cache, degraded: history lives as long as the
 * node. Every message this node hands out in bypass mode is taken in here
 * and gets this node's own next serial: those published here, those other
 * nodes published (brought by the fleet's relay), and, while the fleet
 * switches cache mode, those published through the cache. A message of the
 * cache is taken in once however many paths bring it (by its cache serial).
 * Every channel here gets a fresh epoch, so a serial from the cache's
 * history (or from before a mode switch) never passes for one of these.
 */
export class LocalBroker implements Broker {
  readonly mode = "bypass";
  private readonly channels = new Map<string, LocalChannel>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly settings: HistorySettings) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  async ready(): Promise<void> {}

  /**
   * Takes a message in: the channel's next serial here, kept in history.
   * `fromCache` is the serial the cache gave it, when it was published
   * through the cache; such a message already taken in is refused
   * (undefined), so its second copy is never handed out.
   */
  take(channel: string, dataJson: string, ts = Date.now(), fromCache?: Position): Delivery | undefined {
    const state = this.channel(channel);
    if (fromCache && !this.seen(state, fromCache.epoch).add(fromCache.offset)) return undefined;
    state.offset += 1;
    state.lastPublishAt = Date.now();
    const delivery: Delivery = {
      epoch: state.epoch,
      offset: state.offset,
      text: messageFrame(channel, `${state.epoch}:${state.offset}`, dataJson, ts),
    };
    state.entries.push(delivery);
    if (state.entries.length > this.settings.size) state.entries.splice(0, state.entries.length - this.settings.size);
    return delivery;
  }

  /** Counts the cache's messages up to `position` as taken in: the node handed them out from the cache itself. */
  takenUpTo(channel: string, position: Position): void {
    this.seen(this.channel(channel), position.epoch).raise(position.offset);
  }

  /** The cache epoch this channel last took messages of, and the offset up to which it took every one. */
  cacheProgress(channel: string): Position | undefined {
    const fromCache = this.channels.get(channel)?.fromCache;
    const last = fromCache ? [...fromCache].at(-1) : undefined;
    return last ? { epoch: last[0], offset: last[1].floor } : undefined;
  }

  async history(channel: string, since: Position | undefined): Promise<HistoryRead> {
    const state = this.channel(channel);
    const top = { epoch: state.epoch, offset: state.offset };
    if (!since || since.epoch !== state.epoch || since.offset > state.offset) return { top, messages: [], recovered: false };
    if (since.offset === state.offset) return { top, messages: [], recovered: true };
    const first = state.entries[0];
    if (!first || first.offset > since.offset + 1) return { top, messages: [], recovered: false };
    return { top, messages: state.entries.slice(since.offset + 1 - first.offset), recovered: true };
  }

  async watch(): Promise<void> {}

  unwatch(): void {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private seen(state: LocalChannel, epoch: string): SeenOffsets {
    state.fromCache ??= new Map();
    let seen = state.fromCache.get(epoch);
    if (seen) {
      state.fromCache.delete(epoch);
    } else {
      seen = new SeenOffsets();
      if (state.fromCache.size >= CACHE_EPOCHS) state.fromCache.delete(state.fromCache.keys().next().value!);
    }
    state.fromCache.set(epoch, seen);
    return seen;
  }

  private channel(name: string): LocalChannel {
    let state = this.channels.get(name);
    if (state && state.entries.length > 0 && Date.now() - state.lastPublishAt > this.settings.ttlMs) state.entries = [];
    if (!state) this.channels.set(name, (state = { epoch: newId(8), offset: 0, entries: [], lastPublishAt: Date.now() }));
    return state;
  }

  /** Forgets channels idle for longer than the meta TTL; empties expired histories. */
  private sweep(): void {
    const now = Date.now();
    for (const [name, state] of this.channels) {
      if (now - state.lastPublishAt > this.settings.metaTtlMs) this.channels.delete(name);
      else if (now - state.lastPublishAt > this.settings.ttlMs) state.entries = [];
    }
  }
}
