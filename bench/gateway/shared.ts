/**
 * What the runner (run.ts) and its client-load processes (load.ts) say to
 * each other over the fork IPC channel, plus the small numeric helpers both
 * use. Kept free of side effects so either side can import it.
 */

/** Which server a load process talks to. */
export type System = "ours" | "socketio";

/** Connect `count` clients at a bounded rate, each subscribed to one channel, and keep them open. */
export interface HoldJob {
  kind: "hold";
  system: System;
  /** WebSocket / Socket.IO URLs; client i goes to targets[(offset + i) % length]. */
  targets: string[];
  count: number;
  /** New connections per second this process starts. */
  rate: number;
  /** Handshakes in progress at once: more would only fill the listen backlog. */
  maxPending: number;
  /** Source addresses (127.x.y.z), so no address runs out of ephemeral ports. */
  localAddresses: string[];
  /** Client i subscribes to `${prefix}${(offset + i) % channels}`. */
  channels: number;
  prefix: string;
  offset: number;
}

/** Subscribers on a few channels plus publishers at a fixed rate with a bounded window of unacknowledged publishes. */
export interface FanoutJob {
  kind: "fanout";
  system: System;
  targets: string[];
  subscribers: number;
  /** Channel j of each publisher here: channels[(offset + j) % length]. */
  publishers: number;
  channels: string[];
  /** Publishes per second each publisher aims for. */
  rate: number;
  /** Unacknowledged publishes a publisher may have; beyond it a due publish is skipped, not queued. */
  window: number;
  /** Bytes of filler text in each message, so frames are the size of a small chat message. */
  payloadBytes: number;
  connectRate: number;
  localAddresses: string[];
  offset: number;
}

/** Our gateway only: subscribers that keep dropping and resuming on another node with `since`. */
export interface ChurnJob {
  kind: "churn";
  /** Each node's own URL; a client that resumes goes to the next node. */
  nodes: string[];
  clients: number;
  channels: string[];
  /** Channels this process publishes on (one publisher each). */
  publishOn: string[];
  rate: number;
  window: number;
  /** A client stays connected this long (uniform in the range) before it drops. */
  upMs: [number, number];
  /** and stays away this long before it resumes. */
  downMs: [number, number];
  connectRate: number;
  localAddresses: string[];
  offset: number;
}

export type Job = HoldJob | FanoutJob | ChurnJob;

/** When the timed part of a job happens, as epoch ms shared by every process on the machine. */
export interface Schedule {
  publishFrom: number;
  /** Fan-out: deliveries received in [measureFrom, measureTo) are counted and timed. */
  measureFrom: number;
  measureTo: number;
  /** Churn: clients drop and resume only in [measureFrom, measureTo). */
  publishTo: number;
}

export type ToLoad =
  | { type: "job"; job: Job }
  | { type: "go"; schedule: Schedule }
  /** Churn: the last serial of each channel once publishing stopped. */
  | { type: "finish"; tops: Record<string, string> }
  | { type: "close" };

export interface LoadStatus {
  /** Clients connected and subscribed right now. */
  held: number;
  /** Clients that gave up after their retries. */
  failed: number;
  retries: number;
  /** Clients that were held and then closed without being asked to. */
  dropped: number;
  /** Every client has either been held or failed. */
  settled: boolean;
  /** Milliseconds from the first connect to settled. */
  settleMs?: number;
}

export interface FanoutResult {
  /** Deliveries received inside the measurement window, and its length. */
  deliveries: number;
  windowMs: number;
  /** Every delivery received during the job. */
  received: number;
  /** Publishes acknowledged, per channel, by the publishers in this process. */
  acked: Record<string, number>;
  publishErrors: number;
  /** Publishes not sent because the publisher's window was full. */
  skipped: number;
  /** Subscribers per channel in this process (for the delivery ratio). */
  subscribers: Record<string, number>;
  /** Latency histogram (see Histogram) of the deliveries in the window. */
  latency: number[];
}

export interface ChurnResult {
  clients: number;
  resumes: number;
  recovered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Messages at or before the serial a client first subscribed at. */
  stale: number;
  epochChanges: number;
  clientsWithLoss: number;
  /** Clients still behind the channel's last serial when the wait for them ended. */
  behind: number;
  reconnectFailures: number;
  received: number;
  published: number;
  publishErrors: number;
}

export type FromLoad =
  | { type: "status"; status: LoadStatus }
  | { type: "fanout"; result: FanoutResult }
  | { type: "churn"; result: ChurnResult }
  | { type: "error"; message: string };

/**
 * A latency histogram with logarithmic buckets (2% wide, from 10 µs to about
 * a minute): small enough to send over IPC and merge, precise enough for p99.
 */
export class Histogram {
  static readonly LOW_MS = 0.01;
  static readonly GROWTH = 1.02;
  static readonly SIZE = 800;
  readonly counts: number[];

  constructor(counts?: number[]) {
    this.counts = counts ? [...counts] : new Array<number>(Histogram.SIZE).fill(0);
  }

  record(ms: number): void {
    const index = ms <= Histogram.LOW_MS ? 0 : Math.floor(Math.log(ms / Histogram.LOW_MS) / Math.log(Histogram.GROWTH));
    this.counts[Math.min(Histogram.SIZE - 1, Math.max(0, index))]!++;
  }

  merge(other: number[]): void {
    for (let i = 0; i < Histogram.SIZE; i++) this.counts[i]! += other[i] ?? 0;
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** The value below which a share `q` (0..1) of the samples fall (bucket midpoint); NaN when empty. */
  quantile(q: number): number {
    const total = this.total;
    if (total === 0) return Number.NaN;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let i = 0; i < Histogram.SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Histogram.LOW_MS * Histogram.GROWTH ** (i + 0.5);
    }
    return Number.NaN;
  }
}

/** The median of the finite numbers given; NaN when there are none. */
export function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Epoch milliseconds with sub-millisecond precision, comparable between processes of one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms` milliseconds (at once for zero or less). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A random number drawn uniformly from [low, high). */
export function uniform([low, high]: [number, number]): number {
  return low + Math.random() * (high - low);
}
