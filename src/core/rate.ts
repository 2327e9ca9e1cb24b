/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** True when the bucket is full again (nothing to remember about its owner). */
  idle(): boolean {
    return this.tokens + ((Date.now() - this.refilledAt) / 1000) * this.rate >= this.burst;
  }
}

/** One token bucket per key (a client address), forgotten once it refills. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.sweeper = setInterval(() => {
      for (const [key, bucket] of this.buckets) if (bucket.idle()) this.buckets.delete(key);
    }, 30_000);
    this.sweeper.unref();
  }

  take(key: string): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.rate, this.burst)));
    return bucket.take();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
