/**
 * A small seeded PRNG for the fuzz harness (sfc32 seeded through splitmix32), so a run is a pure
 * function of its seed: the same seed generates the same inputs in the same order per worker.
 */

/** splitmix32: spreads one 32-bit seed into well-mixed words for sfc32's state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Parses a seed given as decimal or 0x-hex; throws on anything else. */
export function parseSeed(text: string): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t.slice(2), 16) : /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`RPMEM_FUZZ_SEED must be a decimal or 0x-hex integer, got ${JSON.stringify(text)}`);
  return n >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` and an optional `stream` number: different streams of one seed are independent. */
  constructor(
    readonly seed: number,
    readonly stream = 0,
  ) {
    const st = { s: (seed ^ Math.imul(stream + 1, 0x632be5ab)) | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let x = this.float() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return entries[entries.length - 1][0];
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A length skewed towards small values: mostly < 64, sometimes up to `max`. */
  size(max: number): number {
    const r = this.float();
    if (r < 0.5) return this.int(Math.min(64, max + 1));
    if (r < 0.85) return this.int(Math.min(1024, max + 1));
    return this.int(max + 1);
  }

  /** An unsigned 64-bit value as a decimal string, biased towards edges (0, 1, 2^32, 2^53, 2^63, 2^64-1, ...). */
  u64(): string {
    const edges = [
      0n,
      1n,
      2n,
      4095n,
      4096n,
      4097n,
      0xffffffffn,
      0x100000000n,
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 53n + 1n,
      2n ** 63n - 1n,
      2n ** 63n,
      2n ** 64n - 4096n,
      2n ** 64n - 1n,
    ];
    if (this.chance(0.6)) return this.pick(edges).toString();
    return ((BigInt(this.u32()) << 32n) | BigInt(this.u32())).toString();
  }

  /** A new generator derived from this one (for a sub-task that must not perturb this stream). */
  fork(): Rng {
    return new Rng(this.u32(), this.u32());
  }
}
