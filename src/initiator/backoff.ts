/**
 * Exponential backoff with jitter for reconnects: each delay grows by `multiplier` up to `maxMs`,
 * and is spread by ±`jitter` so many initiators do not retry in lockstep.
 */
export interface BackoffOptions {
  /** First delay. Default 100. */
  initialMs?: number;
  /** Largest delay. Default 5000. */
  maxMs?: number;
  /** Growth per attempt. Default 1.6. */
  multiplier?: number;
  /** Fraction of the delay to spread it by, both ways. Default 0.2. */
  jitter?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly multiplier: number;
  private readonly jitter: number;
  private currentMs: number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 100;
    this.maxMs = options.maxMs ?? 5000;
    this.multiplier = options.multiplier ?? 1.6;
    this.jitter = options.jitter ?? 0.2;
    this.currentMs = this.initialMs;
  }

  /** The next delay, in ms; each call grows the one after. */
  next(): number {
    const base = this.currentMs;
    this.currentMs = Math.min(this.maxMs, this.currentMs * this.multiplier);
    return Math.max(0, base * (1 + this.jitter * (2 * Math.random() - 1)));
  }

  /** Starts over from the initial delay (after a success). */
  reset(): void {
    this.currentMs = this.initialMs;
  }
}

/** Resolves after `ms` on an unref'd timer, so a pending retry never keeps the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
