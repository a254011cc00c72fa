/**
 * Admission of streams (Persist, Read, Checksums): at most `maxStreams` open at once, and at most
 * `perSecond` new ones per connection per second (a token bucket per peer, burst of two seconds'
 * worth), so one client cannot exhaust the daemon.
 */
import { RpmemError, ErrorCode } from '../common/errors';

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/** Peers idle this long have their bucket dropped, so the map does not grow without bound. */
const BUCKET_IDLE_MS = 60_000;

export class StreamLimiter {
  private open = 0;
  private readonly buckets = new Map<string, Bucket>();
  private sweptAt = Date.now();

  constructor(
    private readonly maxStreams: number,
    private readonly perSecond: number,
  ) {}

  /** Admits one stream from `peer` or throws RPMEM_E_LIMIT; returns its release function (idempotent). */
  admit(peer: string): () => void {
    if (this.open >= this.maxStreams) {
      throw new RpmemError(ErrorCode.LIMIT, `too many open streams (max-streams ${this.maxStreams})`);
    }
    this.take(peer);
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }

  private take(peer: string): void {
    const now = Date.now();
    this.sweep(now);
    const burst = 2 * this.perSecond;
    const bucket = this.buckets.get(peer) ?? { tokens: burst, refilledAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.perSecond);
    bucket.refilledAt = now;
    this.buckets.set(peer, bucket);
    if (bucket.tokens < 1) {
      throw new RpmemError(ErrorCode.LIMIT, `too many new streams from this connection (max-new-streams-per-second ${this.perSecond})`);
    }
    bucket.tokens -= 1;
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < BUCKET_IDLE_MS) return;
    this.sweptAt = now;
    for (const [peer, b] of this.buckets) if (now - b.refilledAt > BUCKET_IDLE_MS) this.buckets.delete(peer);
  }
}
