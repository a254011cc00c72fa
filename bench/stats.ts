/**
 * Latency statistics: percentiles (p50/p99/p999) over samples in nanoseconds, reported in µs.
 */

/** A latency distribution, in microseconds. */
export interface LatencySummary {
  count: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  meanUs: number;
  maxUs: number;
}

/** The `q`-quantile (0..1) of an ascending array, nearest-rank. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** Summarizes `samplesNs` (nanoseconds; not modified) as µs percentiles. */
export function summarize(samplesNs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samplesNs).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const us = (ns: number): number => ns / 1000;
  return {
    count: sorted.length,
    p50Us: us(percentile(sorted, 0.5)),
    p99Us: us(percentile(sorted, 0.99)),
    p999Us: us(percentile(sorted, 0.999)),
    meanUs: sorted.length === 0 ? NaN : us(sum / sorted.length),
    maxUs: sorted.length === 0 ? NaN : us(sorted[sorted.length - 1]),
  };
}

/** A growable buffer of latency samples (ns), bounded to `max` entries. */
export class Samples {
  private data: Float64Array;
  private n = 0;

  constructor(private readonly max: number) {
    this.data = new Float64Array(Math.min(max, 4096));
  }

  get length(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n >= this.max;
  }

  add(ns: number): void {
    if (this.n >= this.max) return;
    if (this.n === this.data.length) {
      const next = new Float64Array(Math.min(this.max, this.data.length * 2));
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = ns;
  }

  summary(): LatencySummary {
    return summarize(this.data.subarray(0, this.n));
  }
}
