import { newId } from "../core/index.ts";
import type { ErrorCode, ServerFrame } from "./protocol.ts";
import { TokenBucket } from "../core/index.ts";
import type { Delivery, Transport } from "./transport.ts";

export interface ClientLimits {
  publishRate: number;
  publishBurst: number;
  maxSubscriptions: number;
  maxBuffered: number;
  /** Protocol errors within `abuseWindowMs` that get a client closed with 1008. */
  abuseErrors: number;
  abuseWindowMs: number;
}

/** Why a client was disconnected by the node, for stats and logs. */
export type DropReason = "slow_consumer" | "abuse" | "heartbeat" | "drain" | "shutdown";

/** What the node wants to hear about a client. */
export interface ClientHooks {
  dropped(client: Client, reason: DropReason): void;
  errorSent(code: ErrorCode): void;
}

/**
 * One connected client, whatever its transport: its subscriptions, its
 * publish allowance (a token bucket) and its record of protocol errors.
 */
export class Client {
  readonly id = newId(10);
  readonly subscriptions = new Set<string>();
  /** Pings sent since the last pong. */
  missedPongs = 0;
  closed = false;
  private readonly bucket: TokenBucket;
  private errorTimes: number[] = [];

  constructor(
    readonly transport: Transport,
    private readonly limits: ClientLimits,
    private readonly hooks: ClientHooks,
  ) {
    this.bucket = new TokenBucket(limits.publishRate, limits.publishBurst);
    // A batching transport tells us when its writes are out; judging the backlog before would count our own batch.
    if (transport.batches) transport.afterFlush = () => this.checkBuffer();
  }

  control(frame: ServerFrame): void {
    if (this.closed) return;
    this.transport.control(frame);
    if (!this.transport.batches) this.checkBuffer();
  }

  deliver(delivery: Delivery): void {
    if (this.closed) return;
    this.transport.deliver(delivery);
    if (!this.transport.batches) this.checkBuffer();
  }

  /** Takes one publish from the bucket; false means the client is over its rate. */
  takePublish(): boolean {
    return this.bucket.take();
  }

  /** An error that is not the client's fault (the cache is down): an error frame, nothing more. */
  fail(code: ErrorCode, message: string, id?: string | number): void {
    this.control({ type: "error", id, code, message });
    this.hooks.errorSent(code);
  }

  /** The client sent something wrong: an error frame, and too many in a short time close it with 1008. */
  refuse(code: ErrorCode, message: string, id?: string | number): void {
    this.fail(code, message, id);
    const now = Date.now();
    this.errorTimes = this.errorTimes.filter((t) => now - t < this.limits.abuseWindowMs);
    this.errorTimes.push(now);
    if (this.errorTimes.length > this.limits.abuseErrors) this.drop("abuse", 1008, "policy violation: too many invalid frames");
  }

  /** Closes with a code, and drops the socket if the close cannot get through. */
  drop(reason: DropReason, code: number, text: string): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.dropped(this, reason);
    this.transport.close(code, text);
    setTimeout(() => this.transport.terminate(), 1_000).unref();
  }

  private checkBuffer(): void {
    if (this.closed) return;
    if (this.transport.bufferedBytes() > this.limits.maxBuffered) {
      this.drop("slow_consumer", 1013, "slow consumer: too much unsent data");
    }
  }
}
