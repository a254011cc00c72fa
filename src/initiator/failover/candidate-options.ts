/**
 * The options and events of a FailoverCandidate, and the timing rule they must satisfy
 * (Patroni's `loop_wait + 2 × retry_timeout ≤ ttl`).
 */
import * as os from 'os';
import { RpmemError, ErrorCode } from '../../storage/errors';
import type { PromoteOptions } from '../promote';
import type { PromotionReport } from '../promotion-report';
import type { ReplicatedPool } from '../replicated-pool';

/** How a candidate reaches etcd. */
export interface EtcdConnection {
  /** etcd client URLs. Required. Example: `['http://10.0.0.9:2379']`. */
  hosts: string[];
  /** etcd user and password, when etcd has auth enabled. Default: none. */
  auth?: { username: string; password: string };
  /** PEM files' contents for `https://` hosts. Default: the system's CA roots, no client certificate. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/**
 * Options of {@link FailoverCandidate}: those of {@link promote} (replicas, write policy, connection) and the group's.
 * `Held` is the type of `holdPool`: `true` (the default) when the candidate serves the pool itself.
 */
export interface FailoverCandidateOptions<Held extends boolean = true> extends Omit<PromoteOptions, 'epoch'> {
  /** This node's own copy of the pool; created from the newest replica when missing. Required. Example: `'/var/lib/app/pool'`. */
  path: string;
  /** The etcd cluster that elects the primary. Required. */
  etcd: EtcdConnection;
  /**
   * The name of the group: one per replicated pool, shared by every candidate of that pool.
   * Required. Example: `'orders'`.
   */
  group: string;
  /** This candidate's name within the group, shown by `rpmem status`. Default `<hostname>-<pid>`. */
  member?: string;
  /** Root of the group's keys in etcd. Default `'/rpmem/'`. Example: `'/prod/rpmem/'`. */
  keyPrefix?: string;
  /**
   * Seconds the leader key lives without a renewal (an etcd lease TTL: whole seconds, at least 2).
   * A standby can take over at the earliest this long after the primary was lost. Default 10.
   */
  ttlSeconds?: number;
  /** Milliseconds between two lease renewals, and between two campaigns of a standby. Default ttl / 3. */
  loopWaitMs?: number;
  /** Deadline of each etcd call, in milliseconds. Default ttl / 3. `loopWaitMs + 2 × retryTimeoutMs` may not exceed the TTL. */
  retryTimeoutMs?: number;
  /**
   * The primary stops acknowledging this many milliseconds before its lease could expire
   * (sent time of the last successful renewal + TTL − margin), to absorb clock-rate differences
   * between this node and etcd. Default max(200, ttl / 10).
   */
  fenceMarginMs?: number;
  /**
   * Whether the elected candidate keeps the promoted pool open and hands it out with 'elected'.
   * `false` closes it right after the promotion, so the local pool file is unlocked and another
   * process (an application a supervisor starts) can `ReplicatedPool.open(path, ...)` it: the
   * local header keeps the new epoch claim, so that open writes under this term's claim. The
   * candidate still renews its lease and emits 'demoted' at the ack deadline (sent time of the
   * last successful renewal + TTL − margin) at the latest; nothing then stops that other writer
   * but whoever listens to 'demoted' (and the replicas' epoch check, once a successor promoted).
   * Default `true`. Example: `{ holdPool: false, beforeResign: () => writerExited }`.
   */
  holdPool?: Held;
  /**
   * Awaited after a term ended ('demoted' was emitted) and before the candidate revokes its lease
   * and campaigns again: e.g. until a writer it supervises has exited, so no successor is elected
   * while it may still run. A rejection is reported as a 'warning'. Default: none.
   */
  beforeResign?: () => Promise<void>;
}

/** What a candidate is doing. */
export enum CandidateRole {
  /** Not started, or stopped. */
  Stopped = 'stopped',
  /** Another member holds the leader key (or nobody yet and this one lost the race): waiting. */
  Standby = 'standby',
  /** Holds the leader key and is promoting its local pool. */
  Promoting = 'promoting',
  /** Holds the leader key and serves the pool. */
  Primary = 'primary',
}

/** The pool an 'elected' event carries: the open pool, or none when the candidate does not hold it. */
export type ElectedPool<Held extends boolean> = Held extends false ? undefined : ReplicatedPool;

/** The events of a {@link FailoverCandidate}, as typed `on` overloads take them. */
export interface FailoverCandidateEvents<Held extends boolean = true> {
  /**
   * This candidate became the primary at `epoch`: `pool` is open and fenced at it; write to it.
   * With `holdPool: false`, `pool` is undefined and the local pool file is closed, claimed at `epoch`.
   */
  elected: [{ pool: ElectedPool<Held>; epoch: bigint; promotion: PromotionReport | undefined }];
  /**
   * This candidate is no longer the primary (its lease was lost or could not be renewed before the
   * ack deadline, the pool was fenced, it resigned or it stopped). Emitted at once; the pool (if
   * held) is closed next, then `beforeResign` is awaited, the lease revoked, and the candidate
   * campaigns again.
   */
  demoted: [{ epoch: bigint; reason: string }];
  /** This candidate waits; `leader` is the member holding the leader key, if any. */
  standby: [{ leader: string | undefined }];
  /** Something went wrong that the candidate retries (etcd unreachable, a promotion that failed). */
  warning: [RpmemError];
}

/** The options with their defaults filled in and checked. */
export interface ResolvedCandidateOptions extends FailoverCandidateOptions<boolean> {
  member: string;
  keyPrefix: string;
  ttlSeconds: number;
  loopWaitMs: number;
  retryTimeoutMs: number;
  fenceMarginMs: number;
}

export const DEFAULT_TTL_SECONDS = 10;
export const DEFAULT_KEY_PREFIX = '/rpmem/';

/** Fills in the defaults and checks the timing rule; throws RPMEM_E_INVALID_ARGUMENT. */
export function resolveCandidateOptions(options: FailoverCandidateOptions<boolean>): ResolvedCandidateOptions {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 2)
    throw invalid(`ttlSeconds must be a whole number of seconds, at least 2, got ${ttlSeconds}`);
  const ttlMs = ttlSeconds * 1000;
  const loopWaitMs = options.loopWaitMs ?? Math.floor(ttlMs / 3);
  const retryTimeoutMs = options.retryTimeoutMs ?? Math.floor(ttlMs / 3);
  const fenceMarginMs = options.fenceMarginMs ?? Math.max(200, Math.floor(ttlMs / 10));
  for (const [key, v] of Object.entries({ loopWaitMs, retryTimeoutMs, fenceMarginMs })) {
    if (!Number.isInteger(v) || v <= 0) throw invalid(`${key} must be a positive whole number of milliseconds, got ${v}`);
  }
  if (loopWaitMs + 2 * retryTimeoutMs > ttlMs) {
    throw invalid(
      `loopWaitMs + 2 × retryTimeoutMs (${loopWaitMs + 2 * retryTimeoutMs}) exceeds the TTL (${ttlMs} ms): a primary could lose its lease between two renewals`,
    );
  }
  if (fenceMarginMs >= ttlMs - retryTimeoutMs)
    throw invalid(`fenceMarginMs (${fenceMarginMs}) must be below ttl − retryTimeoutMs (${ttlMs - retryTimeoutMs})`);
  if (options.etcd.hosts.length === 0) throw invalid('etcd.hosts needs at least one URL');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(options.group))
    throw invalid(`group "${options.group}" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  return {
    ...options,
    member: options.member ?? `${os.hostname()}-${process.pid}`,
    keyPrefix: keyPrefix.endsWith('/') ? keyPrefix : `${keyPrefix}/`,
    ttlSeconds,
    loopWaitMs,
    retryTimeoutMs,
    fenceMarginMs,
  };
}

function invalid(message: string): RpmemError {
  return new RpmemError(ErrorCode.INVALID_ARGUMENT, message);
}
