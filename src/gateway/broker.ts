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
 * Where serials, history and cross-node fan-out come from: the cache Redis in
 * `normal` mode, the node's own memory in `bypass` mode. Live messages reach
 * the node through `onMessage`.
 */
export interface Broker {
  readonly mode: CacheMode;
  /** Resolves once the broker can serve; rejects if it cannot within its timeout. */
  ready(): Promise<void>;
  /** Assigns the next serial, keeps the message in history and fans it out. */
  publish(channel: string, dataJson: string): Promise<Delivery>;
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
