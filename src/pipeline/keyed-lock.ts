/**
 * Runs async work one at a time per key, in the order it was asked for, while
 * work on other keys runs side by side. Work on several keys waits for all of
 * them; keys are claimed at once when `run` is called, so two callers can
 * never each hold a key the other waits for. In-process only.
 */
export class KeyedLock {
  /** Per key, the promise the next caller on that key waits for. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `work` once every earlier caller on any of `keys` has finished. */
  async run<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const earlier = unique.flatMap((key) => {
      const tail = this.tails.get(key);
      return tail ? [tail] : [];
    });
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    for (const key of unique) this.tails.set(key, done);
    try {
      await Promise.all(earlier);
      return await work();
    } finally {
      release();
      for (const key of unique) if (this.tails.get(key) === done) this.tails.delete(key);
    }
  }

  /** Keys some caller holds or waits for (for tests). */
  get size(): number {
    return this.tails.size;
  }
}
