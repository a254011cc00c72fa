/**
 * Random range offsets: a seeded xorshift generator, so every run and every baseline (Node or C)
 * visits the same kind of offsets, and the generator costs nothing next to what it measures.
 */

/** Alignment of a random offset for a range of `bytes`: its own size up to one 4 KiB page. */
export function alignmentFor(bytes: number): number {
  return Math.min(bytes, 4096);
}

export class RandomOffsets {
  private state: number;
  private readonly slots: number;
  private readonly align: number;

  /** Offsets of `rangeBytes`-long ranges inside `[0, spaceBytes)`, aligned to {@link alignmentFor}. */
  constructor(spaceBytes: number, rangeBytes: number, seed = 0x9e3779b9) {
    this.align = alignmentFor(rangeBytes);
    this.slots = Math.floor((spaceBytes - rangeBytes) / this.align) + 1;
    if (this.slots < 1) throw new Error(`a ${rangeBytes}-byte range does not fit in ${spaceBytes} bytes`);
    this.state = seed >>> 0 || 1;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return (x % this.slots) * this.align;
  }
}
