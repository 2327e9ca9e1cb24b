/** Offsets held above the floor before the oldest gap is given up. */
const HELD_ABOVE = 1_024;

/**
 * Which offsets of one epoch a node has taken in, in bounded memory: a floor
 * (every offset at or below it is taken) and the few taken above it out of
 * order. While the fleet switches cache mode, a message of the cache reaches
 * a node by two paths (the cache's live feed and the fleet's relay), each in
 * its own order; this is how the second copy is known for one.
 */
export class SeenOffsets {
  private readonly above = new Set<number>();

  constructor(
    private floorOffset = 0,
    private readonly heldAbove = HELD_ABOVE,
  ) {}

  /** Every offset at or below this one is taken. */
  get floor(): number {
    return this.floorOffset;
  }

  has(offset: number): boolean {
    return offset <= this.floorOffset || this.above.has(offset);
  }

  /** Records an offset as taken; false when it already was. */
  add(offset: number): boolean {
    if (this.has(offset)) return false;
    this.above.add(offset);
    this.advance();
    if (this.above.size > this.heldAbove) {
      // A gap this old is a message that will not come (refused by its publisher's cache, or trimmed): stop holding it open.
      this.raise(Math.min(...this.above));
    }
    return true;
  }

  /** Counts every offset up to `offset` as taken. */
  raise(offset: number): void {
    if (offset <= this.floorOffset) return;
    this.floorOffset = offset;
    for (const held of this.above) if (held <= offset) this.above.delete(held);
    this.advance();
  }

  private advance(): void {
    while (this.above.delete(this.floorOffset + 1)) this.floorOffset++;
  }
}
