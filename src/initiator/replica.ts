/**
 * Replica: one remote copy of a replicated pool and its life cycle —
 *
 *   connecting → resyncing → up → (stream lost) → down → connecting → …
 *
 * While `up`, every persist goes to it and counts toward the write policy. While `resyncing`, new
 * persists go to it too but do not count: it becomes `up` only after every block it missed is
 * durable on it (docs/design.md I6). While `down` or `connecting`, persists only mark the blocks they
 * touch in its DirtyMap, durably, before they resolve (I4). `fenced` is final: a newer primary owns
 * the pool (I5).
 */
import { RpmemError, ErrorCode, asRpmemError } from '../storage/errors';
import type { EpochClaim } from '../storage/epoch-claim';
import type { Durability } from '../storage/durability';
import type { Granularity } from '../storage/native';
import { Backoff, BackoffOptions, delay } from './backoff';
import { differingBlocks } from './block-compare';
import type { ClaimGate } from './claim-gate';
import { DirtyMap } from './dirty-map';
import type { RangeSink } from './persist-stream';
import type { ConnectOptions } from './options';
import type { Pool } from './pool';
import { RemotePool } from './remote-pool';
import type { SharedRange } from './shared-batch';

export type ReplicaState = 'connecting' | 'resyncing' | 'up' | 'down' | 'fenced';

/** Where a replica lives: `host:port/poolName`. */
export interface ReplicaAddress {
  /** The spec as given, used as the replica's name in events and results. */
  spec: string;
  target: string;
  name: string;
}

/** Parses `host:port/poolName`; throws RPMEM_E_INVALID_ARGUMENT. */
export function parseReplica(spec: string): ReplicaAddress {
  const m = /^([^/\s]+:\d{1,5})\/([^/\s]+)$/.exec(spec);
  if (m === null) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `replica must be "host:port/poolName", got "${spec}"`);
  return { spec, target: m[1], name: m[2] };
}

/** How the pool reaches its replicas: set by ReplicatedPool, one per pool. */
export interface ReplicaSettings {
  local: Pool;
  /** TLS, token, control-call deadline. */
  connect: ConnectOptions;
  /** The primary's epoch claim, which every replica must promise before it is written. */
  claim: () => EpochClaim;
  /** Opens once a majority of the pool's replicas promised the claim. */
  gate: ClaimGate;
  /** The last LSN the primary issued. */
  lsnNow: () => bigint;
  ackTimeoutMs: number;
  maxInflightBytes: number;
  backoff: BackoffOptions;
  /** Blocks copied at once during resync. */
  resyncConcurrency: number;
  /** A block idle this long on an up replica is unmarked. */
  activityWindowMs: number;
  /** Create the remote pool (same size) when it does not exist. */
  createMissing: boolean;
}

export interface ResyncProgress {
  replica: string;
  blocksDone: number;
  blocksTotal: number;
  bytesCopied: number;
  full: boolean;
}

export interface ResyncDone extends ResyncProgress {
  ms: number;
}

/** @internal What the replica reports to its ReplicatedPool. */
export interface ReplicaListener {
  stateChanged(replica: Replica, error?: RpmemError): void;
  resyncProgress(p: ResyncProgress): void;
  resyncDone(p: ResyncDone): void;
}

/**
 * How route() handled a persist on this replica: whether the replica will ack it and the ack
 * counts toward the write policy (it is up), and `durable`, which settles once the blocks it touches
 * are marked in the dirty map, durably (undefined when they already were). The persist must not
 * resolve before, or an initiator crash could leave this replica without the range and without a
 * mark saying so (docs/design.md I3, I4).
 */
export interface Route {
  counts: boolean;
  durable: Promise<void> | undefined;
}

/** The common routes, shared: nothing to wait for. */
const COUNTED: Route = Object.freeze({ counts: true, durable: undefined });
const NOT_COUNTED: Route = Object.freeze({ counts: false, durable: undefined });

/** Told how each counted send of a persist fared. */
export interface AckSink {
  acked(replica: Replica, seq: number, granularity: Granularity, durability: Durability): void;
  nacked(replica: Replica, err: RpmemError): void;
}

/** A dirty-map write that sends wait for: one per group commit, shared by the sends behind it. */
interface MarkWait {
  promise: Promise<void>;
  settled: boolean;
  error?: RpmemError;
}

/** A send held back until its blocks are durably marked and every earlier send went out. */
interface HeldSend {
  pool: RemotePool;
  offset: number;
  data: Buffer;
  lsn: bigint;
  crc: number;
  first: number;
  last: number;
  sink: AckSink | undefined;
  shared: SharedRange;
  mark: MarkWait | undefined;
  /** False while `data` is a view of the application's buffer (see detach). */
  owned: boolean;
}

/**
 * One range sent to one replica: when the stream settles it, the blocks' in-flight count drops and
 * the persist's sink (if the send counts) hears the outcome. A failure is handled here even when
 * the ack does not count: never an unhandled rejection.
 */
class ReplicaSend implements RangeSink {
  constructor(
    private readonly replica: Replica,
    private readonly first: number,
    private readonly last: number,
    private readonly sink: AckSink | undefined,
  ) {}

  acked(seq: number, granularity: Granularity, durability: Durability): void {
    this.replica.done(this.first, this.last);
    this.sink?.acked(this.replica, seq, granularity, durability);
  }

  failed(err: RpmemError): void {
    this.replica.done(this.first, this.last);
    this.sink?.nacked(this.replica, err);
  }
}

export class Replica {
  private current: ReplicaState = 'connecting';
  private pool?: RemotePool;
  private closed = false;
  private readonly backoff: Backoff;
  /**
   * Ranges in flight per block: a block is unmarked only when none is. A count per block of the
   * map (at most 2^20), not a Map: it changes twice per range per replica.
   */
  private readonly inflight: Uint32Array;
  /** Blocks with nothing in flight, and the activity tick they went idle at. */
  private readonly idleSince = new Map<number, number>();
  private tick = 0;
  private activityTimer?: NodeJS.Timeout;
  /** Sends waiting for a dirty mark, or behind one that is: sent strictly in LSN order. */
  private held: HeldSend[] = [];
  private heldHead = 0;
  /** Held sends from `heldHead` up to this index own their data. */
  private heldOwned = 0;
  /** The latest dirty-map write a held send waits for. */
  private lastMark?: MarkWait;
  private fullResyncRequested = false;
  private lastError?: RpmemError;
  /** The latest openRemote(): close() closes what it opens, so no handle outlives the replica. */
  private opening?: Promise<RemotePool>;

  constructor(
    readonly address: ReplicaAddress,
    private readonly dirty: DirtyMap,
    private readonly settings: ReplicaSettings,
    private readonly listener: ReplicaListener,
    /** The least durability this replica's pool must give: its open is refused otherwise (RPMEM_E_DURABILITY). */
    private readonly requiredDurability?: Durability,
  ) {
    this.backoff = new Backoff(settings.backoff);
    this.inflight = new Uint32Array(dirty.blocks);
  }

  get spec(): string {
    return this.address.spec;
  }

  get state(): ReplicaState {
    return this.current;
  }

  /** Why the replica last went down, if it did. */
  get error(): RpmemError | undefined {
    return this.lastError;
  }

  /** Blocks marked as possibly differing from the local pool. */
  get dirtyBlocks(): number {
    return this.dirty.marked().length;
  }

  get blockBytes(): number {
    return this.dirty.blockBytes;
  }

  /** The replica's open pool while it is resyncing or up. */
  get remote(): RemotePool | undefined {
    return this.pool;
  }

  /** What its open pool gives, while it is resyncing or up. */
  get durability(): Durability | undefined {
    return this.pool?.durability;
  }

  /** Starts connecting (and reconnecting, with backoff) until closed or fenced. */
  start(): void {
    void this.connectLoop();
    this.activityTimer = setInterval(() => this.clearIdleBlocks(), this.settings.activityWindowMs);
    this.activityTimer.unref();
  }

  /**
   * Routes one persist of local `[offset, offset+length)` (`data`, a view of it) with `lsn` and
   * the range's CRC32C. Must be called in LSN order: sends reach the stream in the order of calls.
   * When the route counts, `sink` hears how the send fared; without a sink the range is sent all
   * the same, and its ack counts toward nothing (a replica below a persist's required durability).
   */
  route(offset: number, length: number, lsn: bigint, crc: number, data: Buffer, sink: AckSink | undefined, shared: SharedRange): Route {
    const blockBytes = this.dirty.blockBytes;
    const first = Math.floor(offset / blockBytes);
    const last = Math.floor((offset + length - 1) / blockBytes);
    const marking = this.dirty.mark(first, last);
    const pool = this.pool;
    if (pool === undefined || (this.current !== 'up' && this.current !== 'resyncing')) {
      return marking === undefined ? NOT_COUNTED : { counts: false, durable: marking };
    }
    const counts = this.current === 'up';
    const to = counts ? sink : undefined;
    this.busy(first, last);
    if (marking === undefined && this.heldHead === this.held.length) {
      this.send(pool, offset, data, lsn, crc, first, last, to, shared);
      return counts ? COUNTED : NOT_COUNTED;
    }
    const mark = marking === undefined ? undefined : this.markWait(marking);
    this.held.push({ pool, offset, data, lsn, crc, first, last, sink: to, shared, mark, owned: false });
    return marking === undefined ? (counts ? COUNTED : NOT_COUNTED) : { counts, durable: marking };
  }

  /**
   * The persist of `lsn` settled and its application may store into the range again: copy the data
   * of every send up to that LSN still waiting here or on the stream, so this replica receives what
   * the ranges held when persist was called (docs/design.md I7). Held sends are in LSN order.
   */
  detach(lsn: bigint): void {
    let i = Math.max(this.heldOwned, this.heldHead);
    for (; i < this.held.length && this.held[i].lsn <= lsn; i++) {
      const h = this.held[i];
      if (!h.owned) {
        h.data = Buffer.from(h.data);
        h.owned = true;
      }
    }
    this.heldOwned = i;
    this.pool?.detach(lsn);
  }

  /**
   * Stops for good: the primary was fenced. The connect loop ends, the stream is cancelled, and
   * nothing more is sent, resynced or marked clean on this replica.
   */
  halt(reason: RpmemError): void {
    this.closed = true;
    clearInterval(this.activityTimer);
    this.pool?.cancelStream(reason);
  }

  /** Forces the next resync to compare every block by checksum, and starts it now if up. */
  async requestFullResync(): Promise<void> {
    this.fullResyncRequested = true;
    await this.dirty.invalidate();
    if (this.current === 'up' && this.pool !== undefined) {
      this.pool.cancelStream(new RpmemError(ErrorCode.UNAVAILABLE, 'full resync requested'));
    }
  }

  /** Waits for sends in flight, unmarks blocks if up (nothing differs), and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.activityTimer);
    const pool = this.pool;
    if (pool !== undefined && this.current === 'up') {
      await pool.drain().catch(() => undefined);
      if (this.current === 'up') await this.dirty.clear(this.dirty.marked()).catch(() => undefined);
    }
    await pool?.close().catch(() => undefined);
    // An open still in flight (a replica connecting while the pool closes) would hold the remote
    // pool's writer handle, and make the next writer BUSY, as long as this process lives.
    await this.opening?.then((p) => p.close()).catch(() => undefined);
    await this.dirty.close();
  }

  /** Queues one range on the stream; its ReplicaSend settles the blocks' in-flight count and tells `sink`. */
  private send(
    pool: RemotePool,
    offset: number,
    data: Buffer,
    lsn: bigint,
    crc: number,
    first: number,
    last: number,
    sink: AckSink | undefined,
    shared: SharedRange,
  ): void {
    pool.persistTo(offset, data, lsn, crc, new ReplicaSend(this, first, last, sink), shared);
  }

  /** The shared wait for the dirty-map write `marking` (the DirtyMap group-commits marks). */
  private markWait(marking: Promise<void>): MarkWait {
    if (this.lastMark !== undefined && this.lastMark.promise === marking) return this.lastMark;
    const wait: MarkWait = { promise: marking, settled: false };
    this.lastMark = wait;
    marking.then(
      () => {
        wait.settled = true;
        this.releaseHeld();
      },
      (err: RpmemError) => {
        wait.settled = true;
        wait.error = err;
        this.releaseHeld();
      },
    );
    return wait;
  }

  /** Sends held sends from the front, in LSN order, up to the first whose mark is still pending. */
  private releaseHeld(): void {
    while (this.heldHead < this.held.length) {
      const h = this.held[this.heldHead];
      if (h.mark !== undefined && !h.mark.settled) return;
      this.held[this.heldHead++] = undefined as unknown as HeldSend;
      if (h.mark?.error === undefined) {
        this.send(h.pool, h.offset, h.data, h.lsn, h.crc, h.first, h.last, h.sink, h.shared);
      } else {
        // Never sent: its blocks may not be marked. The persist fails with the mark's own error
        // (it waits on the same write), so the sink is not told.
        this.done(h.first, h.last);
      }
    }
    this.held = [];
    this.heldHead = 0;
    this.heldOwned = 0;
    if (this.lastMark?.settled === true) this.lastMark = undefined;
  }

  private busy(first: number, last: number): void {
    for (let b = first; b <= last; b++) {
      if (this.inflight[b]++ === 0) this.idleSince.delete(b);
    }
  }

  /** Blocks `first..last` have one range fewer in flight (a send settled, or a held one was dropped). */
  done(first: number, last: number): void {
    for (let b = first; b <= last; b++) {
      const n = this.inflight[b];
      if (n > 1) {
        this.inflight[b] = n - 1;
      } else {
        this.inflight[b] = 0;
        this.idleSince.set(b, this.tick);
      }
    }
  }

  /** Unmarks blocks idle for a whole activity window on an up replica: it acked everything on them. */
  private clearIdleBlocks(): void {
    this.tick++;
    if (this.current !== 'up') return;
    const idle: number[] = [];
    for (const [b, since] of this.idleSince) {
      if (since < this.tick - 1) {
        idle.push(b);
        this.idleSince.delete(b);
      }
    }
    if (idle.length > 0) void this.dirty.clear(idle).catch(() => undefined);
  }

  private setState(next: ReplicaState, error?: RpmemError): void {
    if (this.current === next) return;
    this.current = next;
    if (error !== undefined) this.lastError = error;
    this.listener.stateChanged(this, error);
  }

  private async connectLoop(): Promise<void> {
    while (!this.closed) {
      this.setState('connecting');
      let pool: RemotePool | undefined;
      try {
        await this.claimRemote();
        await this.settings.gate.wait();
        if (this.closed) return;
        this.opening = this.openRemote();
        pool = await this.opening;
        await this.resync(pool);
        this.backoff.reset();
        this.setState('up');
        const err = await pool.whenFailed();
        if (this.closed) return;
        this.pool = undefined;
        void pool.close().catch(() => undefined);
        this.fail(err);
      } catch (err) {
        const e = asRpmemError(err);
        this.pool = undefined;
        void pool?.close().catch(() => undefined);
        if (this.closed) return;
        this.fail(e);
      }
      if (this.current === 'fenced') return;
      await delay(this.backoff.next());
    }
  }

  private fail(err: RpmemError): void {
    this.setState(err.code === ErrorCode.FENCED ? 'fenced' : 'down', err);
  }

  /**
   * Asks the replica to promise this primary's claim before anything else touches it: a replica
   * that missed a promotion is raised to the current epoch here (docs/design.md I6), and one that
   * promised a newer primary answers RPMEM_E_FENCED. A missing pool is created first when allowed.
   */
  private async claimRemote(): Promise<void> {
    const { target, name } = this.address;
    const { connect, claim, createMissing, local, gate } = this.settings;
    await RemotePool.fence(target, name, claim(), connect).catch(async (err: RpmemError) => {
      if (err.code !== ErrorCode.NO_POOL || !createMissing) throw err;
      await (await RemotePool.create(target, name, { ...connect, size: local.size })).close();
      await RemotePool.fence(target, name, claim(), connect);
    });
    gate.promisedBy(this.spec);
  }

  private async openRemote(): Promise<RemotePool> {
    const { target, name } = this.address;
    const local = this.settings.local;
    const pool = await RemotePool.openReplica(target, name, {
      ...this.settings.connect,
      claim: this.settings.claim(),
      ackTimeoutMs: this.settings.ackTimeoutMs,
      maxInflightBytes: this.settings.maxInflightBytes,
      requireDurability: this.requiredDurability,
    });
    if (pool.openInfo.size !== local.size) {
      await pool.close().catch(() => undefined);
      throw new RpmemError(
        ErrorCode.INVALID_ARGUMENT,
        `replica ${this.spec} has ${pool.openInfo.size} bytes, the local pool ${local.size}`,
      );
    }
    return pool;
  }

  /**
   * Brings the replica level with the local pool while new persists keep flowing to it: mark it
   * SYNCING on the target, find what differs (the dirty map, or every block's digest when the map
   * cannot be trusted), copy exactly those blocks, then mark it CLEAN up to the last LSN it acked.
   */
  private async resync(pool: RemotePool): Promise<void> {
    const started = Date.now();
    await pool.setSyncState('syncing', 0n);
    this.pool = pool;
    this.setState('resyncing');
    await this.dirty.settled();
    const replicaUuid = pool.openInfo.poolUuid;
    const full = this.fullResyncRequested || !this.dirty.authoritativeFor(replicaUuid);
    if (full) {
      const differing = await differingBlocks(this.settings.local, pool, this.dirty.blockBytes);
      await Promise.all(differing.map((b) => this.dirty.mark(b, b)));
      await this.dirty.setAuthoritative(replicaUuid);
      this.fullResyncRequested = false;
    }
    const blocks = this.dirty.marked();
    const progress: ResyncProgress = { replica: this.spec, blocksDone: 0, blocksTotal: blocks.length, bytesCopied: 0, full };
    await this.copyBlocks(pool, blocks, progress);
    // Every persist up to this LSN was either marked before the snapshot above (and copied) or sent
    // to this replica since (and is acked by the drain): the replica is complete up to it. Sends
    // still held behind a dirty mark join the stream once it is durable, before the drain's barrier.
    const completeUpTo = this.settings.lsnNow();
    await this.dirty.settled();
    await pool.drain();
    await this.dirty.clear(blocks.filter((b) => this.inflight[b] === 0));
    await pool.setSyncState('clean', completeUpTo);
    this.listener.resyncDone({ ...progress, ms: Date.now() - started });
  }

  /** Copies `blocks` from the local pool, `resyncConcurrency` at a time, reporting progress. */
  private async copyBlocks(pool: RemotePool, blocks: number[], progress: ResyncProgress): Promise<void> {
    const { local, resyncConcurrency } = this.settings;
    const size = this.dirty.blockBytes;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < blocks.length) {
        const b = blocks[next++];
        const offset = b * size;
        // A copy, not a view: the application may store into this block while it is on its way.
        const data = Buffer.from(local.buffer.subarray(offset, Math.min(local.size, offset + size)));
        await pool.persist(offset, data);
        progress.blocksDone++;
        progress.bytesCopied += data.length;
        if (progress.blocksDone % 64 === 0) this.listener.resyncProgress({ ...progress });
      }
    };
    await Promise.all(Array.from({ length: Math.min(resyncConcurrency, blocks.length) }, worker));
    this.listener.resyncProgress({ ...progress });
  }
}
