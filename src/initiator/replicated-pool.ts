/**
 * ReplicatedPool: a local pool (the primary copy) replicated to N targets.
 *
 * `persist(offset, length)` makes the range durable locally and streams it to every replica at
 * once; it resolves when the local copy is durable and the write policy's number of replicas
 * acked it (docs/design.md I4), and rejects with RPMEM_E_QUORUM as soon as that can no longer happen.
 * Replicas that fail are resynced in the background when they return (see Replica).
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import { RpmemError, ErrorCode, asRpmemError } from '../storage/errors';
import { newClaim } from '../storage/epoch-claim';
import { NO_CLAIMANT } from '../storage/pool-header';
import { ClaimGate } from './claim-gate';
import type { PromotionReport } from './promotion-report';
import { crc32c, Granularity } from '../storage/native';
import { Durability, checkDurability, checkDurabilityRequirement, meetsDurability } from '../storage/durability';
import { checkRange } from '../storage/range-check';
import type { PoolAttr } from '../storage/pool-attr';
import { BackoffOptions } from './backoff';
import { DifferingRange, differingBlocks, toRanges } from './block-compare';
import { DirtyMap, dirtyMapPath } from './dirty-map';
import { ConnectOptions, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_MAX_INFLIGHT_BYTES, PoolOptions } from './options';
import { Pool } from './pool';
import { Replica, ReplicaListener, ReplicaSettings, ReplicaState, ResyncDone, ResyncProgress, parseReplica } from './replica';
import { SharedRange } from './shared-batch';
import { PersistOwner, ReplicaAck, ReplicatedPersist, ReplicatedPersistResult } from './replicated-persist';

export type { ReplicaAck, ReplicatedPersistResult };

/** How many replicas must acknowledge a persist: every one, a majority, or a number k of n. */
export type WritePolicy = 'all' | 'majority' | number;

/**
 * Options of {@link ReplicatedPool.open}. Of the {@link PoolOptions}, `requireDurability` is the
 * local pool's; {@link ReplicatedPoolOptions.requireReplicaDurability} is the replicas'.
 */
export interface ReplicatedPoolOptions extends PoolOptions, ConnectOptions {
  /** The replicas, each `host:port/poolName`. Required. Example: `['10.0.0.2:7420/db', '10.0.0.3:7420/db']`. */
  replicas: string[];
  /**
   * The least durability each replica's pool must give (`pmem` > `page` > `emulated`, see
   * {@link Durability}): one level for every replica, or a level per replica spec (replicas not named
   * have none). A replica that gives less is refused at its open with RPMEM_E_DURABILITY, which
   * `open()` rejects with; one that comes back later giving less stays down with that error.
   * Default: none. Example: `{ requireReplicaDurability: 'page' }`, or
   * `{ requireReplicaDurability: { '10.0.0.2:7420/db': 'pmem' } }`.
   */
  requireReplicaDurability?: Durability | Record<string, Durability>;
  /** Default write policy. Default `'all'`. Example: `{ ack: 'majority' }`. */
  ack?: WritePolicy;
  /**
   * Create the local pool with this many usable bytes when it does not exist, and any replica
   * pool that does not exist. Default: open only (RPMEM_E_NO_POOL if missing).
   */
  create?: { size: number; attr?: Partial<PoolAttr> };
  /** A replica that acknowledges nothing for this long while ranges are outstanding is marked down. Default 5000. */
  ackTimeoutMs?: number;
  /** Most unacknowledged bytes per replica. Default 64 MiB. */
  maxInflightBytes?: number;
  /** Reconnect backoff. Default 100 ms growing ×1.6 to 5 s, ±20% jitter. */
  reconnect?: BackoffOptions;
  /** Blocks a resync copies at once. Default 16. */
  resyncConcurrency?: number;
  /** How long a block must sit idle on an up replica before its dirty mark is cleared. Default 1000. */
  activityWindowMs?: number;
  /** How long open() waits for enough replicas to come up. Default 2 × callTimeoutMs. */
  openWaitMs?: number;
  /**
   * Listeners attached before any replica connects, so events that happen inside open() (a resync
   * that finishes, a replica that is down from the start) are seen. Example:
   * `{ on: { 'resync-done': (p) => log(p) } }`.
   */
  on?: ReplicatedPoolListeners;
}

/** A listener per event name, as `ReplicatedPoolOptions.on` takes them. */
export type ReplicatedPoolListeners = { [E in keyof ReplicatedPoolEvents]?: (...args: ReplicatedPoolEvents[E]) => void };

/** A replica as `status()` reports it. */
export interface ReplicaStatus {
  replica: string;
  state: ReplicaState;
  /** Blocks marked as possibly differing from the local pool. */
  dirtyBlocks: number;
  /** Why it last went down. */
  error?: string;
  /** What its pool gives, while it is resyncing or up. */
  durability?: Durability;
}

/** What `verify()` found for one replica. */
export interface ReplicaVerify {
  replica: string;
  /** False when the replica was not reachable to compare. */
  compared: boolean;
  differing: DifferingRange[];
}

export interface ReplicatedPoolEvents {
  'replica-down': [{ replica: string; error: RpmemError }];
  'replica-up': [{ replica: string }];
  'resync-progress': [ResyncProgress];
  'resync-done': [ResyncDone];
  /** Not every replica is up any more. */
  degraded: [{ up: number; total: number }];
  /** Every replica is up again. */
  restored: [{ total: number }];
  /** A replica reports a newer primary, or the lease the pool writes under ran out: it may no longer write. */
  fenced: [{ replica: string; error: RpmemError }];
}

/** How often waitForQuorum looks at the replicas' states. */
const QUORUM_POLL_MS = 20;

/** LSNs reserved in the local header at a time, so LSNs never repeat after a crash. */
const LSN_RESERVATION = 1_000_000n;

export class ReplicatedPool extends EventEmitter<ReplicatedPoolEvents> implements ReplicaListener, PersistOwner {
  private readonly replicas: Replica[] = [];
  private lsn: bigint;
  private lsnReserved: bigint;
  /** The LSN past which the next reservation is written (half of the current one used). */
  private lsnRenewAt: bigint;
  private fencedBy?: RpmemError;
  private closed = false;
  private wasDegraded = false;
  /** Replicas whose current outage was already reported. */
  private readonly downReported = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** The latest LSN reservation write; persists wait for it, so no LSN is used before it is recorded. */
  private lsnReservation: Promise<void> = Promise.resolve();
  /** True once `lsnReservation` fulfilled: persists need not wait for it. */
  private lsnReservationDone = true;
  /** performance.now() past which no persist may resolve (the coordinator lease, I8); Infinity for none. */
  private ackDeadline = Infinity;
  private readonly gate = new ClaimGate(() => claimQuorum(this.policy, this.replicas.length));
  private promotionReport?: PromotionReport;
  /** requireReplicaDurability, checked: a level for all, or per replica spec. */
  private replicaDurability: Durability | Record<string, Durability> | undefined;

  private readonly settings: ReplicaSettings;

  private constructor(
    private readonly local: Pool,
    private readonly policy: WritePolicy,
    settings: Omit<ReplicaSettings, 'lsnNow' | 'gate' | 'claim'>,
  ) {
    super();
    this.settings = { ...settings, lsnNow: () => this.lsn, gate: this.gate, claim: () => local.claim };
    this.lsn = local.lsn;
    this.lsnReserved = local.lsn;
    this.lsnRenewAt = local.lsn;
  }

  /**
   * Opens (or with `create`, creates) the local pool at `path` and connects to every replica.
   * Resolves once enough replicas are up for the default write policy, or every replica has
   * settled (up or down), or `openWaitMs` passed — so a degraded pool still opens. Rejects with
   * RPMEM_E_FENCED if a replica already belongs to a newer primary.
   */
  static async open(path: string, options: ReplicatedPoolOptions): Promise<ReplicatedPool> {
    const addresses = options.replicas.map(parseReplica);
    if (addresses.length === 0) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, 'at least one replica is required');
    checkPolicy(options.ack ?? 'all', addresses.length);
    const replicaDurability = checkReplicaDurability(options.requireReplicaDurability, options.replicas);
    const local =
      fs.existsSync(path) || options.create === undefined
        ? await Pool.open(path, options)
        : await Pool.create(path, { ...options, size: options.create.size, attr: options.create.attr });
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    // A pool's first primary claims the pool's epoch under an id of its own (epoch-claim.ts).
    if (local.claim.claimant.equals(NO_CLAIMANT)) await local.claimEpoch(newClaim(local.epoch));
    const settings: Omit<ReplicaSettings, 'lsnNow' | 'gate' | 'claim'> = {
      local,
      connect: { tls: options.tls, token: options.token, channelOptions: options.channelOptions, callTimeoutMs },
      ackTimeoutMs: options.ackTimeoutMs ?? 5000,
      maxInflightBytes: options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES,
      backoff: options.reconnect ?? {},
      resyncConcurrency: options.resyncConcurrency ?? 16,
      activityWindowMs: options.activityWindowMs ?? 1000,
      createMissing: options.create !== undefined,
    };
    const pool = new ReplicatedPool(local, options.ack ?? 'all', settings);
    pool.replicaDurability = replicaDurability;
    // By name, as the map holds them: each listener has its own event's type, checked in the options.
    const untyped: EventEmitter = pool;
    for (const [event, listener] of Object.entries(options.on ?? {})) untyped.on(event, listener);
    await pool.reserveLsns();
    for (const address of addresses) await pool.addReplica(address.spec);
    await pool.settle(checkPolicy(options.ack ?? 'all', addresses.length), options.openWaitMs ?? 2 * callTimeoutMs);
    const refused = pool.fencedBy ?? pool.durabilityRefusal();
    if (refused !== undefined) {
      await pool.close();
      throw refused;
    }
    return pool;
  }

  /** A zero-copy view of the local data area: store here, then persist. */
  get buffer(): Buffer {
    return this.local.buffer;
  }

  /** Usable bytes. */
  get size(): number {
    return this.local.size;
  }

  /** The primary's fencing epoch. */
  get epoch(): bigint {
    return this.local.epoch;
  }

  /** The local pool's granularity. */
  get granularity(): Granularity {
    return this.local.granularity;
  }

  /** What the local copy survives (see {@link Pool.durability}); each replica's is in {@link status}. */
  get durability(): Durability {
    return this.local.durability;
  }

  /** What the promotion that opened this pool did; undefined for a pool opened by {@link ReplicatedPool.open}. */
  get promotion(): PromotionReport | undefined {
    return this.promotionReport;
  }

  /** @internal Called by promote() on the pool it opened. */
  recordPromotion(report: PromotionReport): void {
    this.promotionReport = report;
  }

  /** Every replica's state. */
  status(): ReplicaStatus[] {
    return this.replicas.map((r) => ({
      replica: r.spec,
      state: r.state,
      dirtyBlocks: r.dirtyBlocks,
      ...(r.error ? { error: `${r.error.code}: ${r.error.message}` } : {}),
      ...(r.durability ? { durability: r.durability } : {}),
    }));
  }

  /**
   * Makes `buffer[offset, offset+length)` durable locally and on the replicas the write policy
   * (default: the pool's) demands. Do not store into the range until the promise settles.
   *
   * With `require`, the local copy must give that durability and only acks of replicas that give it
   * count toward the policy (the others still receive the range). It rejects at once with
   * RPMEM_E_DURABILITY, before anything is written, when the local pool gives less or when enough
   * replicas are up for the policy but too few of them give the level (too few up is RPMEM_E_QUORUM,
   * as without `require`). Example: `persist(0, n, { ack: 'majority', require: 'page' })`.
   */
  persist(offset: number, length: number, options: { ack?: WritePolicy; require?: Durability } = {}): Promise<ReplicatedPersistResult> {
    try {
      this.checkWritable();
      checkRange(offset, length, this.size);
      const required = checkPolicy(options.ack ?? this.policy, this.replicas.length);
      if (options.require === undefined) return this.replicate(offset, length, required, undefined);
      const level = checkDurabilityRequirement(options.require, 'require')!;
      this.checkCanGive(level, required);
      return this.replicate(offset, length, required, level);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Waits for every persist issued so far to settle. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /**
   * Compares every reachable replica with the local pool block by block (by digest) and reports
   * the differing byte ranges. Each replica's outstanding ranges are awaited first, so the answer
   * is exact for every block not written while verify runs.
   */
  async verify(): Promise<ReplicaVerify[]> {
    return Promise.all(
      this.replicas.map(async (r) => {
        const remote = r.remote;
        if (remote === undefined) return { replica: r.spec, compared: false, differing: [] };
        await remote.drain().catch(() => undefined);
        const blocks = await differingBlocks(this.local, remote, r.blockBytes);
        return { replica: r.spec, compared: true, differing: toRanges(blocks, r.blockBytes, this.size) };
      }),
    );
  }

  /** Resyncs `replica` (every replica when omitted) by comparing every block's digest: for copies damaged behind rpmem's back. */
  async resync(replica?: string): Promise<void> {
    const chosen = replica === undefined ? this.replicas : [this.find(replica)];
    await Promise.all(chosen.map((r) => r.requestFullResync()));
  }

  /**
   * Adds a replica online; it is resynced (by checksum if unknown) before it counts.
   * `options.requireDurability` is the least its pool must give (default: the pool's
   * requireReplicaDurability for this spec); a replica that gives less stays down with RPMEM_E_DURABILITY.
   */
  async addReplica(spec: string, options: { requireDurability?: Durability } = {}): Promise<void> {
    const address = parseReplica(spec);
    if (this.replicas.some((r) => r.spec === spec)) throw new RpmemError(ErrorCode.EXISTS, `replica ${spec} is already part of this pool`);
    const level = checkDurabilityRequirement(options.requireDurability) ?? this.replicaDurabilityOf(spec);
    const dirty = await DirtyMap.open(this.local.path, this.local.poolUuid, spec, this.local.size, this.local.granularity);
    const replica = new Replica(address, dirty, this.settings, this, level);
    this.replicas.push(replica);
    replica.start();
  }

  /** Removes a replica online: it stops receiving persists and its dirty map is deleted. */
  async removeReplica(spec: string): Promise<void> {
    const replica = this.find(spec);
    if (this.replicas.length === 1) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, 'cannot remove the last replica');
    this.replicas.splice(this.replicas.indexOf(replica), 1);
    await replica.close();
    fs.rmSync(dirtyMapPath(this.local.path, spec), { force: true });
  }

  /**
   * Sets the moment (a `performance.now()` value) from which this pool acknowledges nothing: a
   * persist that has not resolved by then rejects with RPMEM_E_FENCED, and so does every later one.
   * A coordinated primary sets it to the end of its lease, less a margin, each time the lease is
   * renewed, so it stops acknowledging before another primary can be elected (docs/design.md I8),
   * even when its process was paused. `Infinity` removes the deadline.
   */
  setAckDeadline(deadline: number): void {
    // A deadline that is no number must fence at once, never disable the check (NaN compares false).
    this.ackDeadline = Number.isNaN(deadline) ? -Infinity : deadline;
  }

  /**
   * Resolves once enough replicas are up to meet `ack` (default: the pool's policy), so a writer
   * that got RPMEM_E_QUORUM can wait instead of retrying at once. Rejects with RPMEM_E_TIMEOUT
   * after `timeoutMs` (default 30000), RPMEM_E_FENCED or RPMEM_E_CLOSED.
   */
  async waitForQuorum(options: { ack?: WritePolicy; timeoutMs?: number } = {}): Promise<void> {
    const required = checkPolicy(options.ack ?? this.policy, this.replicas.length);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkWritable();
      if (this.upCount() >= required) return;
      if (Date.now() >= deadline) {
        throw new RpmemError(ErrorCode.TIMEOUT, `fewer than ${required} replica(s) were up for ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, QUORUM_POLL_MS));
    }
  }

  /** Drains, disconnects every replica (unmarking up replicas' blocks), records the LSN, closes the local pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gate.release();
    await this.drain();
    await Promise.all(this.replicas.map((r) => r.close()));
    await this.local.recordLsn(this.lsn).catch(() => undefined);
    await this.local.close();
  }

  // ReplicaListener

  /** @internal ReplicaListener: a replica went up or down. */
  stateChanged(replica: Replica, error?: RpmemError): void {
    const spec = replica.spec;
    if (replica.state === 'up') {
      this.downReported.delete(spec);
      this.emit('replica-up', { replica: spec });
    }
    // Once per outage: failed reconnect attempts do not repeat it.
    if ((replica.state === 'down' || replica.state === 'fenced') && error !== undefined && !this.downReported.has(spec)) {
      this.downReported.add(spec);
      this.emit('replica-down', { replica: spec, error });
    }
    if (replica.state === 'fenced' && error !== undefined && this.fencedBy === undefined) this.fence(spec, error);
    const up = this.upCount();
    const total = this.replicas.length;
    if (up < total && !this.wasDegraded && replica.state !== 'connecting' && replica.state !== 'resyncing') {
      this.wasDegraded = true;
      this.emit('degraded', { up, total });
    } else if (up === total && this.wasDegraded) {
      this.wasDegraded = false;
      this.emit('restored', { total });
    }
  }

  /** @internal ReplicaListener. */
  resyncProgress(p: ResyncProgress): void {
    this.emit('resync-progress', p);
  }

  /** @internal ReplicaListener. */
  resyncDone(p: ResyncDone): void {
    this.emit('resync-done', p);
  }

  /**
   * Issues one persist: the local flush, then a route to every replica in LSN order. The returned
   * promise is settled by counters (see ReplicatedPersist); nothing here awaits.
   */
  private replicate(offset: number, length: number, required: number, level: Durability | undefined): Promise<ReplicatedPersistResult> {
    const op = new ReplicatedPersist(this, this.nextLsn(), required);
    this.inflight.add(op.promise);
    try {
      op.wait(this.local.persist(offset, length));
      const data = this.local.buffer.subarray(offset, offset + length);
      const crc = crc32c(data);
      const shared = new SharedRange();
      for (const r of this.replicas) {
        const sink = level === undefined || this.gives(r, level) ? op : undefined;
        const route = r.route(offset, length, op.lsn, crc, data, sink, shared);
        if (route.counts && sink !== undefined) op.expectAck();
        if (route.durable !== undefined) op.wait(route.durable);
      }
      if (!this.lsnReservationDone) op.wait(this.lsnReservation);
      op.start();
    } catch (err) {
      op.fail(asRpmemError(err));
    }
    return op.promise;
  }

  private nextLsn(): bigint {
    this.lsn += 1n;
    if (this.lsn > this.lsnRenewAt) {
      const reservation = this.reserveLsns();
      this.lsnReservation = reservation;
      this.lsnReservationDone = false;
      reservation.then(
        () => {
          if (this.lsnReservation === reservation) this.lsnReservationDone = true;
        },
        () => undefined,
      );
    }
    return this.lsn;
  }

  /** Records an LSN well past the current one, so a crashed primary never reuses an LSN. */
  private reserveLsns(): Promise<void> {
    this.lsnReserved = this.lsn + LSN_RESERVATION;
    this.lsnRenewAt = this.lsnReserved - LSN_RESERVATION / 2n;
    return this.local.recordLsn(this.lsnReserved);
  }

  /** A newer primary owns the replicas (or the lease ran out): stop writing to any of them, for good. */
  private fence(replica: string, error: RpmemError): void {
    this.fencedBy = error;
    this.gate.release();
    for (const r of this.replicas) r.halt(error);
    this.emit('fenced', { replica, error });
  }

  // PersistOwner

  /** @internal PersistOwner. */
  persistSettled(persist: Promise<ReplicatedPersistResult>, lsn: bigint): void {
    this.inflight.delete(persist);
    for (const r of this.replicas) r.detach(lsn);
  }

  /** @internal PersistOwner. */
  fencedError(): RpmemError | undefined {
    if (this.fencedBy === undefined && performance.now() >= this.ackDeadline) {
      this.fence('lease', new RpmemError(ErrorCode.FENCED, 'the lease this primary writes under ran out before it was renewed'));
    }
    return this.fencedBy === undefined ? undefined : this.fencedErrorOf(this.fencedBy);
  }

  /** @internal PersistOwner. */
  quorumError(required: number, reachable: number): RpmemError {
    const down = this.replicas.filter((r) => r.state !== 'up').map((r) => `${r.spec} (${r.state})`);
    return new RpmemError(
      ErrorCode.QUORUM,
      `write policy needs ${required} replica ack(s), ${reachable} replica(s) were up and not all of them acked; not up: ${down.join(', ') || 'none'}`,
    );
  }

  private checkWritable(): void {
    if (this.closed) throw new RpmemError(ErrorCode.CLOSED, 'replicated pool is closed');
    const fenced = this.fencedError();
    if (fenced !== undefined) throw fenced;
  }

  private fencedErrorOf(cause: RpmemError): RpmemError {
    return new RpmemError(ErrorCode.FENCED, `this primary was fenced: ${cause.message}`, { cause });
  }

  private upCount(): number {
    return this.replicas.filter((r) => r.state === 'up').length;
  }

  /** True when `replica`'s open pool gives at least `level`. */
  private gives(replica: Replica, level: Durability): boolean {
    const have = replica.durability;
    return have !== undefined && meetsDurability(have, level);
  }

  /**
   * Throws RPMEM_E_DURABILITY when a persist requiring `level` cannot be acknowledged for a reason
   * known now: the local pool gives less, or enough replicas are up for `required` acks but fewer
   * than that give the level.
   */
  private checkCanGive(level: Durability, required: number): void {
    checkDurability(`the local pool ${this.local.path}`, this.local.durability, level);
    const up = this.replicas.filter((r) => r.state === 'up');
    if (up.length < required || up.filter((r) => this.gives(r, level)).length >= required) return;
    const given = up.map((r) => `${r.spec} gives ${r.durability ?? 'unknown'}`).join(', ');
    throw new RpmemError(
      ErrorCode.DURABILITY,
      `write policy needs ${required} replica ack(s) at ${level} durability or better; of the replicas up, ${given}`,
    );
  }

  /** The requirement for replica `spec` from requireReplicaDurability. */
  private replicaDurabilityOf(spec: string): Durability | undefined {
    const levels = this.replicaDurability;
    return typeof levels === 'string' || levels === undefined ? levels : levels[spec];
  }

  /** The error of a replica that is not up because its pool gives less durability than required. */
  private durabilityRefusal(): RpmemError | undefined {
    return this.replicas.find((r) => r.state !== 'up' && r.error?.code === ErrorCode.DURABILITY)?.error;
  }

  private find(spec: string): Replica {
    const r = this.replicas.find((x) => x.spec === spec);
    if (r === undefined) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `no replica ${spec} in this pool`);
    return r;
  }

  /**
   * Waits until `required` replicas are up, or none is still on its way up, or no claim majority
   * can form among the replicas still answering, or `timeoutMs` passed.
   */
  private async settle(required: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const majority = claimQuorum(this.policy, this.replicas.length);
    const unsettled = (): boolean =>
      this.fencedBy === undefined &&
      this.durabilityRefusal() === undefined &&
      this.upCount() < required &&
      this.replicas.some((r) => r.state === 'connecting' || r.state === 'resyncing') &&
      (this.gate.open || this.replicas.filter((r) => r.state !== 'down').length >= majority);
    while (unsettled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The number of acks `policy` demands of `n` replicas; throws RPMEM_E_INVALID_ARGUMENT. */
export function checkPolicy(policy: WritePolicy, n: number): number {
  if (policy === 'all') return n;
  if (policy === 'majority') return Math.floor(n / 2) + 1;
  if (!Number.isInteger(policy) || policy < 0 || policy > n) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `ack must be 'all', 'majority' or an integer 0..${n}, got ${String(policy)}`);
  }
  return policy;
}

/** requireReplicaDurability checked: each level valid, each spec one of `replicas`. */
function checkReplicaDurability(
  value: ReplicatedPoolOptions['requireReplicaDurability'],
  replicas: string[],
): Durability | Record<string, Durability> | undefined {
  if (value === undefined || typeof value === 'string') return checkDurabilityRequirement(value, 'requireReplicaDurability');
  for (const [spec, level] of Object.entries(value)) {
    if (!replicas.includes(spec))
      throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `requireReplicaDurability names ${spec}, which is not one of the replicas`);
    checkDurabilityRequirement(level, `requireReplicaDurability[${spec}]`);
  }
  return { ...value };
}

/** Replicas that must promise a primary's claim before it writes any: a majority, or fewer if the policy asks fewer acks. */
function claimQuorum(policy: WritePolicy, n: number): number {
  return Math.max(1, Math.min(Math.floor(n / 2) + 1, checkPolicy(policy, n)));
}
