import { describeError, type Logger } from "../core/index.ts";
import { Backoff, ProblemStreak } from "./backoff.ts";
import type { ResultBuffer, BufferedResult } from "./buffer.ts";
import type { AgentClient } from "./client.ts";
import { AgentRequestError } from "./errors.ts";

/** Under the server's 1 MiB body limit with room for the envelope. */
const BATCH_BYTES = 900 * 1024;

export interface PusherOptions {
  client: AgentClient;
  buffer: ResultBuffer;
  location: string;
  agent: { name: string; version: string };
  log: Logger;
  /** How often buffered results are pushed (at once when a full batch waits). @defaultValue 1000 */
  everyMs?: number;
  /** Delays after a failed push. @defaultValue 1 s doubling to 30 s */
  backoff?: Backoff;
}

/** What the pusher delivered so far. */
export interface PushStats {
  pushes: number;
  accepted: number;
  duplicates: number;
  late: number;
  /** Results the server refused (bad_results) or could not take (too large), dropped. */
  refused: number;
}

/** What one push came to: sent (the next when due), or failed (retry at once, or after a delay). */
type Outcome = { ok: true; delayMs: number } | { ok: false; delayMs: number };

/**
 * Pushes the buffer to the server, oldest first, one batch in flight at a
 * time: every `everyMs`, or at once when `batchMax` results wait. A failed
 * push keeps its results and is retried with backoff; results the server
 * refuses by name (400 bad_results) are dropped, each logged once, and the
 * rest sent again at once. A problem is logged when its streak starts, not
 * at every retry.
 */
export class ResultPusher {
  /** The most results per push; the server says it in its config. @defaultValue 500 */
  batchMax = 500;
  readonly stats: PushStats = { pushes: 0, accepted: 0, duplicates: 0, late: 0, refused: 0 };
  private readonly everyMs: number;
  private readonly backoff: Backoff;
  private readonly streak = new ProblemStreak();
  private readonly halt = new AbortController();
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private backingOff = false;
  private stopped = false;
  private byteCap = BATCH_BYTES;

  constructor(private readonly options: PusherOptions) {
    this.everyMs = options.everyMs ?? 1_000;
    this.backoff = options.backoff ?? new Backoff();
  }

  start(): void {
    this.schedule(this.everyMs);
  }

  /** A result was buffered: a full batch goes at once, unless a push is in flight or backing off. */
  wake(): void {
    if (this.stopped || this.inFlight || this.backingOff || this.options.buffer.size < this.batchMax) return;
    this.schedule(0);
  }

  /**
   * Stops pushing on the clock and makes the last push: what is buffered,
   * in batches, until it is all taken, a push fails, or `budgetMs` is over
   * (a push still going then is aborted). Answers how many results were left.
   */
  async stop(budgetMs = 5_000): Promise<number> {
    this.stopped = true;
    clearTimeout(this.timer);
    const deadline = setTimeout(() => this.halt.abort(new Error("the last push ran out of time")), budgetMs);
    try {
      await this.inFlight;
      while (this.options.buffer.size > 0 && !this.halt.signal.aborted) {
        const outcome = await this.pushOnce();
        if (!outcome.ok && outcome.delayMs > 0) break;
      }
    } finally {
      clearTimeout(deadline);
    }
    const left = this.options.buffer.size;
    if (left > 0) this.options.log.warn({ left, dropped: this.options.buffer.dropped }, "stopping with results the server has not taken; they are lost");
    return left;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.attempt(), delayMs);
  }

  private attempt(): void {
    if (this.inFlight || this.stopped) return;
    if (this.options.buffer.size === 0) return this.schedule(this.everyMs);
    this.backingOff = false;
    this.inFlight = this.pushOnce().then((outcome) => {
      this.inFlight = undefined;
      this.backingOff = !outcome.ok && outcome.delayMs > 0;
      if (!this.stopped) this.schedule(outcome.delayMs);
    });
  }

  private async pushOnce(): Promise<Outcome> {
    const { buffer, client, log } = this.options;
    const batch = buffer.take(this.batchMax, this.byteCap);
    const dropped = buffer.dropped;
    try {
      const answer = await client.push(
        { location: this.options.location, agent: this.options.agent, sent_at: new Date().toISOString(), dropped, results: batch.map((item) => item.result) },
        this.halt.signal,
      );
      buffer.accepted(batch, dropped);
      this.backoff.reset();
      this.byteCap = BATCH_BYTES;
      this.stats.pushes++;
      this.stats.accepted += answer.accepted;
      this.stats.duplicates += answer.duplicates;
      this.stats.late += answer.late;
      if (this.streak.end()) log.info({ sent: batch.length, waiting: buffer.size }, "the server takes results again");
      log.debug({ sent: batch.length, ...answer, dropped, waiting: buffer.size }, "results pushed");
      return { ok: true, delayMs: buffer.size >= this.batchMax ? 0 : this.everyMs };
    } catch (err) {
      return this.failed(err, batch);
    }
  }

  private failed(err: unknown, batch: BufferedResult[]): Outcome {
    const { buffer, log } = this.options;
    if (this.halt.signal.aborted) return { ok: false, delayMs: 1 };
    if (!(err instanceof AgentRequestError)) {
      log.error({ err: describeError(err) }, "pushing results failed unexpectedly; retrying with backoff");
      return { ok: false, delayMs: this.backoff.next() };
    }
    if (err.code === "bad_results" && err.rejected.length > 0) return this.refused(err, batch);
    if (err.status === 413) return this.tooLarge(batch);
    const delayMs = this.backoff.next();
    const kept = buffer.size;
    if (err.status === 401) {
      if (this.streak.first("401")) log.error({ status: 401, kept, retryInMs: delayMs }, `the server refused the agent token (401): ${err.message}; keeping ${kept} results and retrying with backoff`);
    } else if (this.streak.first(err.code)) {
      log.warn({ status: err.status, code: err.code, kept, retryInMs: delayMs }, `${err.message}; keeping ${kept} results and retrying with backoff`);
    }
    log.debug({ status: err.status, code: err.code, kept, retryInMs: delayMs }, "push failed; retrying");
    return { ok: false, delayMs };
  }

  /** 400 bad_results: nothing was stored; drop the results named, send the rest again at once. */
  private refused(err: AgentRequestError, batch: BufferedResult[]): Outcome {
    const named = err.rejected.map((r) => ({ item: batch[r.index], reason: r })).filter((r) => r.item !== undefined);
    for (const { item, reason } of named) {
      this.options.log.warn({ id: item!.result.id, probe: item!.result.probe, reason: reason.message }, "the server refused a result; dropped");
    }
    if (named.length === 0) return { ok: false, delayMs: this.backoff.next() };
    this.options.buffer.discard(named.map((r) => r.item!));
    this.stats.refused += named.length;
    return { ok: false, delayMs: 0 };
  }

  /** 413: send half as much at once; one result alone too large is dropped. */
  private tooLarge(batch: BufferedResult[]): Outcome {
    if (batch.length <= 1) {
      const item = batch[0];
      if (item) {
        this.options.log.warn({ id: item.result.id, probe: item.result.probe, bytes: item.bytes }, "a result is too large for the server to take (413); dropped");
        this.options.buffer.discard([item]);
        this.stats.refused++;
      }
      return { ok: false, delayMs: 0 };
    }
    this.byteCap = Math.max(1, Math.floor(batch.reduce((sum, item) => sum + item.bytes, 0) / 2));
    this.options.log.info({ results: batch.length, nextBytes: this.byteCap }, "the server found the push too large (413); sending smaller batches");
    return { ok: false, delayMs: 0 };
  }
}
