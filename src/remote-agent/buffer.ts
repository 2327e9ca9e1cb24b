import type { ProbeResult } from "../probe-runtime/index.ts";

/** A buffered result with its JSON size, so a batch can be cut under the server's body limit. */
export interface BufferedResult {
  result: ProbeResult;
  bytes: number;
  /** Set when overflow dropped it: false while it sat in the buffer, true when it was dropped during its push. */
  droppedInFlight?: boolean;
}

/**
 * The results not yet accepted by the server, oldest first, at most
 * `capacity`: a new result beyond that drops the oldest, counted in
 * `dropped` until a push that reported them is accepted. A batch is read
 * with `take` and removed with `accepted` once the server took it, so a
 * result is never lost to a failed push. Entries live in an array with a
 * moving head, so dropping and removing from the front stay cheap.
 */
export class ResultBuffer {
  private items: BufferedResult[] = [];
  private head = 0;
  /** Results dropped from the front since the last accepted push. */
  dropped = 0;
  /** The batch of the push in flight, if any. */
  private inFlight = new Set<BufferedResult>();

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`buffer capacity must be a whole number ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** Adds a result; answers how many old results it pushed out (0 or 1). */
  add(result: ProbeResult): number {
    this.items.push({ result, bytes: Buffer.byteLength(JSON.stringify(result)) });
    if (this.size <= this.capacity) return 0;
    const oldest = this.items[this.head++]!;
    oldest.droppedInFlight = this.inFlight.has(oldest);
    this.dropped++;
    this.compact();
    return 1;
  }

  /**
   * The oldest results, at most `max` of them and at most `maxBytes` of
   * JSON (but always one, if any), marked as in flight: they stay in the
   * buffer until `accepted` or `discard`.
   */
  take(max: number, maxBytes: number): BufferedResult[] {
    const out: BufferedResult[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.items.length && out.length < max; i++) {
      const item = this.items[i]!;
      if (out.length > 0 && bytes + item.bytes > maxBytes) break;
      out.push(item);
      bytes += item.bytes;
    }
    this.inFlight = new Set(out);
    return out;
  }

  /**
   * The server took `sent`, a push that reported `reportedDropped`: they
   * leave the buffer, and the drop count restarts from what was dropped
   * since. A sent result that overflow dropped while its push was in flight
   * reached the server after all, so it is not counted as dropped.
   */
  accepted(sent: readonly BufferedResult[], reportedDropped: number): void {
    const deliveredAnyway = sent.filter((item) => item.droppedInFlight).length;
    this.dropped = Math.max(0, this.dropped - reportedDropped - deliveredAnyway);
    this.discard(sent);
  }

  /** Removes these results wherever they still are; sent batches are the front, so this is usually a cut at the head. */
  discard(items: readonly BufferedResult[]): void {
    const gone = new Set(items);
    while (this.head < this.items.length && gone.has(this.items[this.head]!)) gone.delete(this.items[this.head++]!);
    for (const item of gone) if (item.droppedInFlight !== undefined) gone.delete(item);
    if (gone.size > 0) {
      this.items = this.items.slice(this.head).filter((item) => !gone.has(item));
      this.head = 0;
    }
    this.compact();
  }

  /** Every result still buffered, oldest first (for tests and the last words at shutdown). */
  snapshot(): ProbeResult[] {
    return this.items.slice(this.head).map((item) => item.result);
  }

  private compact(): void {
    if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
