import type { Position } from "./serial.ts";
import type { Delivery } from "./transport.ts";

export type CacheMode = "normal" | "bypass";

/** What a broker found in a channel's history for a subscriber. */
export interface HistoryRead {
  /** The newest position of the channel (its serial goes in `subscribed`). */
  top: Position;
  /** Messages after the subscriber's `since`, oldest first. */
  messages: Delivery[];
  /** True when `since` was given and every message after it is in `messages`. */
  recovered: boolean;
}

export interface HistorySettings {
  /** Messages kept per channel. */
  size: number;
  /** How long history is kept after a channel's last publish, in ms. */
  ttlMs: number;
  /** How long a channel's epoch and offset are kept after its last publish, in ms. */
  metaTtlMs: number;
}

/**
 * Where the serials and history a node's subscribers see come from: the
 * cache Redis in `normal` mode, the node's own memory in `bypass` mode.
 * (How messages get in is each broker's own: `RedisBroker.publish` and its
 * live feed, `LocalBroker.take`; cache-modes.ts routes them.)
 */
export interface Broker {
  readonly mode: CacheMode;
  /** Resolves once the broker can serve; rejects if it cannot within its timeout. */
  ready(): Promise<void>;
  /** Reads the channel's top and, given `since`, the messages after it. */
  history(channel: string, since: Position | undefined): Promise<HistoryRead>;
  /** Starts live delivery of a channel to this node (idempotent); resolves once it is on. */
  watch(channel: string): Promise<void>;
  /** Stops live delivery of a channel to this node. */
  unwatch(channel: string): void;
  close(): Promise<void>;
}

/** Builds the message frame text once; channel names never need escaping. */
export function messageFrame(channel: string, serial: string, dataJson: string, ts: number): string {
  return `{"type":"message","channel":"${channel}","serial":"${serial}","data":${dataJson},"ts":${ts}}`;
}

/**
 * The data and timestamp of a frame `messageFrame` (or the cache's publish
 * script, which writes the same text) built. Neither the channel nor the
 * serial can hold `,"data":`, and `ts` is the last field, so the data is
 * what lies between, whatever it contains.
 */
export function frameParts(text: string): { dataJson: string; ts: number } {
  const start = text.indexOf(',"data":') + ',"data":'.length;
  const end = text.lastIndexOf(',"ts":');
  return { dataJson: text.slice(start, end), ts: Number(text.slice(end + ',"ts":'.length, -1)) };
}
