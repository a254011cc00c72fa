/**
 * Admission of streams (Persist, Read, Checksums): at most `maxStreams` open at once, and at most
 * `perSecond` new ones per connection per second (a token bucket per connection, burst of two
 * seconds' worth), so one client cannot exhaust the daemon.
 *
 * The global budget is shared fairly: one peer (a client IP address, however many connections it
 * opens) holds at most `perPeer` streams and one principal (a token of the auth file) at most
 * `perPrincipal`, so streams that are opened and left idle by one client cannot lock everyone else
 * out of Persist and Read for idle-stream-ms. Callers without a token (no auth file) are told apart
 * by their address only.
 */
import { RpmemError, ErrorCode } from '../storage/errors';

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/** Peers idle this long have their bucket dropped, so the map does not grow without bound. */
const BUCKET_IDLE_MS = 60_000;

export interface StreamShares {
  maxStreams: number;
  perSecond: number;
  /** Most streams open at once from one IP address. */
  perPeer: number;
  /** Most streams open at once for one principal (token). */
  perPrincipal: number;
}

/** The address part of a grpc-js peer string (`1.2.3.4:5678`, `::1:5678`, `::ffff:1.2.3.4:5678`). */
export function peerHost(peer: string): string {
  const m = /^\[?(.*?)\]?:\d+$/.exec(peer);
  return m === null ? peer : m[1];
}

export class StreamLimiter {
  private open = 0;
  private readonly buckets = new Map<string, Bucket>();
  /** Open streams per peer host and per principal; an entry is deleted when its count drops to 0. */
  private readonly byPeer = new Map<string, number>();
  private readonly byPrincipal = new Map<string, number>();
  private sweptAt = Date.now();

  constructor(private readonly shares: StreamShares) {}

  /**
   * Admits one stream from connection `peer` for `principal` ('' for no token) or throws
   * RPMEM_E_LIMIT naming the limit; returns its release function (idempotent).
   */
  admit(peer: string, principal: string): () => void {
    const { maxStreams, perPeer, perPrincipal } = this.shares;
    if (this.open >= maxStreams) {
      throw new RpmemError(ErrorCode.LIMIT, `too many open streams (max-streams ${maxStreams})`);
    }
    const host = peerHost(peer);
    if ((this.byPeer.get(host) ?? 0) >= perPeer) {
      throw new RpmemError(ErrorCode.LIMIT, `too many open streams from ${host} (max-streams-per-peer ${perPeer})`);
    }
    if (principal !== '' && (this.byPrincipal.get(principal) ?? 0) >= perPrincipal) {
      throw new RpmemError(ErrorCode.LIMIT, `too many open streams for this token (max-streams-per-principal ${perPrincipal})`);
    }
    this.take(peer);
    this.open++;
    add(this.byPeer, host, 1);
    if (principal !== '') add(this.byPrincipal, principal, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      add(this.byPeer, host, -1);
      if (principal !== '') add(this.byPrincipal, principal, -1);
    };
  }

  private take(peer: string): void {
    const now = Date.now();
    this.sweep(now);
    const { perSecond } = this.shares;
    const burst = 2 * perSecond;
    const bucket = this.buckets.get(peer) ?? { tokens: burst, refilledAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * perSecond);
    bucket.refilledAt = now;
    this.buckets.set(peer, bucket);
    if (bucket.tokens < 1) {
      throw new RpmemError(ErrorCode.LIMIT, `too many new streams from this connection (max-new-streams-per-second ${perSecond})`);
    }
    bucket.tokens -= 1;
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < BUCKET_IDLE_MS) return;
    this.sweptAt = now;
    for (const [peer, b] of this.buckets) if (now - b.refilledAt > BUCKET_IDLE_MS) this.buckets.delete(peer);
  }
}

function add(counts: Map<string, number>, key: string, delta: number): void {
  const n = (counts.get(key) ?? 0) + delta;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}
