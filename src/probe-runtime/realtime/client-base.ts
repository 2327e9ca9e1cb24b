import { ProbeFailure } from "../types.ts";
import type { RealtimeMessage, Refusal } from "./types.ts";

/**
 * What every adapter's client shares: the queue of delivered messages, the
 * first failure of the connection, and waiting on either. Every event (a
 * message, an ack, a close, the signal) wakes whatever waits, which then
 * re-checks; nothing waits on a timer of its own but a bounded `within`.
 * An adapter pushes what arrives with `deliver`, ends the connection with
 * `fail`, and waits for its own answers (acks, CONNACK) with `until`.
 */
export abstract class ClientBase {
  refusal?: Refusal;
  failure?: Error;
  private readonly inbox: RealtimeMessage[] = [];
  private wakeups: (() => void)[] = [];
  private readonly onAbort = (): void => {
    this.fail(new ProbeFailure(`aborted at the deadline (${this.where})`));
    this.close();
  };

  constructor(
    readonly where: string,
    protected readonly signal: AbortSignal,
  ) {
    if (signal.aborted) queueMicrotask(this.onAbort);
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  abstract close(): void;

  /** Queues a delivered message (the payload parsed as JSON when it is JSON). */
  protected deliver(channel: string, text: string, position?: string): void {
    this.inbox.push({ channel, text, payload: parsePayload(text), position, receivedAt: performance.now() });
    this.wake();
  }

  /** The broker turned the connection away: remembered as the refusal, and the connection's failure is a BrokerRefused quoting it. */
  protected refuse(refusal: Refusal, message: string): void {
    this.refusal ??= refusal;
    this.fail(new BrokerRefused(message, refusal));
  }

  /** The connection is no longer usable: the first reason stays, and every waiter throws it. */
  protected fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  /** Stops listening to the signal; call from `close`. */
  protected detach(): void {
    this.signal.removeEventListener("abort", this.onAbort);
  }

  /** Wakes every waiter to re-check (call after any change an adapter's own `until` waits on). */
  protected wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }

  /**
   * Waits until `check` gives a value. With `ms`, resolves undefined once
   * that long has passed; a failure of the connection, or the signal, throws.
   */
  protected async until<T>(check: () => T | undefined, ms?: number): Promise<T | undefined> {
    let expired = false;
    const timer = ms === undefined ? undefined : setTimeout(() => ((expired = true), this.wake()), Math.max(0, ms));
    try {
      for (;;) {
        const value = check();
        if (value !== undefined) return value;
        if (this.failure) throw this.failure;
        if (this.signal.aborted) throw new ProbeFailure(`aborted at the deadline (${this.where})`);
        if (expired) return undefined;
        await new Promise<void>((resolve) => this.wakeups.push(resolve));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  next(channel: string, match: (message: RealtimeMessage) => boolean, ms: number): Promise<RealtimeMessage | undefined> {
    return this.until(() => {
      const index = this.inbox.findIndex((m) => m.channel === channel && match(m));
      return index >= 0 ? this.inbox.splice(index, 1)[0] : undefined;
    }, ms);
  }

  takeAll(channel: string): RealtimeMessage[] {
    const taken = this.inbox.filter((m) => m.channel === channel);
    for (const message of taken) this.inbox.splice(this.inbox.indexOf(message), 1);
    return taken;
  }
}

/**
 * Thrown by `connect` (and the verbs) when the broker turned the client
 * away, carrying its reason: a surge counts it as refused, a safeguard
 * reads whether the broker said it is full.
 */
export class BrokerRefused extends ProbeFailure {
  constructor(
    message: string,
    readonly refusal: Refusal,
  ) {
    super(message);
    this.name = "BrokerRefused";
  }
}

/** The refusal an error carries, when the broker turned the client away. */
export function refusalOf(err: unknown): Refusal | undefined {
  return err instanceof BrokerRefused ? err.refusal : undefined;
}

/** JSON when it parses, else the text itself. */
export function parsePayload(text: string): unknown {
  const first = text.trimStart()[0];
  if (first !== "{" && first !== "[" && first !== '"') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
