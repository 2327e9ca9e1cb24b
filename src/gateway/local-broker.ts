import { newId } from "../core/index.ts";
import { messageFrame, type Broker, type HistoryRead, type HistorySettings } from "./broker.ts";
import type { Position } from "./serial.ts";
import type { Delivery } from "./transport.ts";

interface LocalChannel {
  /** Each channel's history is its own epoch: forgetting a channel starts a new one. */
  epoch: string;
  offset: number;
  entries: Delivery[];
  lastPublishAt: number;
}

const SWEEP_MS = 60_000;

/**
 * `bypass` mode: serials, history and fan-out in this node's memory. The
 * platform stays alive without its cache, degraded: history lives as long
 * as the node, and messages reach the other nodes only through `relay`
 * (the local fleet relays them through its primary process; without a
 * relay they reach only subscribers on the same node). A relayed message
 * gets this node's own serial, so its subscribers resume here as usual.
 * Every channel here gets a fresh epoch, so a serial from the cache's
 * history (or from before a mode switch) never passes for one of these.
 */
export class LocalBroker implements Broker {
  readonly mode = "bypass";
  private readonly channels = new Map<string, LocalChannel>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly settings: HistorySettings,
    private readonly onMessage: (channel: string, delivery: Delivery) => void,
    private readonly relay?: (channel: string, dataJson: string) => void,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  async ready(): Promise<void> {}

  async publish(channel: string, dataJson: string): Promise<Delivery> {
    const delivery = this.append(channel, dataJson);
    this.relay?.(channel, dataJson);
    return delivery;
  }

  /** A message another node published and relayed here: stored and delivered under this node's serial, not relayed again. */
  receiveRelayed(channel: string, dataJson: string): void {
    this.append(channel, dataJson);
  }

  private append(channel: string, dataJson: string): Delivery {
    const state = this.channel(channel);
    state.offset += 1;
    state.lastPublishAt = Date.now();
    const delivery: Delivery = {
      epoch: state.epoch,
      offset: state.offset,
      text: messageFrame(channel, `${state.epoch}:${state.offset}`, dataJson, state.lastPublishAt),
    };
    state.entries.push(delivery);
    if (state.entries.length > this.settings.size) state.entries.splice(0, state.entries.length - this.settings.size);
    this.onMessage(channel, delivery);
    return delivery;
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
