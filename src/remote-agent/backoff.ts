/** Delays between retries: `firstMs`, doubling up to `maxMs`, back to the start after a success. */
export class Backoff {
  private nextMs: number;

  /**
   * @param firstMs the first delay. @defaultValue 1000
   * @param maxMs the longest delay. @defaultValue 30000
   */
  constructor(
    private readonly firstMs = 1_000,
    private readonly maxMs = 30_000,
  ) {
    if (!(firstMs > 0) || !(maxMs >= firstMs)) throw new RangeError(`backoff needs 0 < firstMs ≤ maxMs, got ${firstMs} and ${maxMs}`);
    this.nextMs = firstMs;
  }

  /** The delay before the next retry; each call doubles the one after. */
  next(): number {
    const delay = this.nextMs;
    this.nextMs = Math.min(this.maxMs, this.nextMs * 2);
    return delay;
  }

  reset(): void {
    this.nextMs = this.firstMs;
  }
}

/**
 * Which problems were already told in the current streak of failures, so a
 * problem is logged once when it starts, not at every retry.
 */
export class ProblemStreak {
  private readonly told = new Set<string>();

  /** True the first time `key` happens in this streak. */
  first(key: string): boolean {
    if (this.told.has(key)) return false;
    this.told.add(key);
    return true;
  }

  /** The streak is over; answers whether there was one. */
  end(): boolean {
    const was = this.told.size > 0;
    this.told.clear();
    return was;
  }
}
