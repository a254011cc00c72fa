/**
 * DirtyMap: for one replica, the blocks of the pool that may differ from the local copy, kept in a
 * small pool file beside the local pool (`<pool>.dirty-<id>`), so neither an initiator crash nor a
 * restart forgets them (docs/design.md I4).
 *
 * A block is marked, durably, before any range touching it is sent to the replica and before a
 * persist the replica misses resolves; it is cleared only once the replica has the block (resync
 * acked, or an up replica acked every range in flight on it). So after any crash the marked blocks
 * cover every possible difference, like DRBD's activity log and bitmap in one.
 *
 * Block size: 64 KiB, or larger for pools over 64 GiB so the map stays at most 2^20 bits (128 KiB).
 * 64 KiB keeps resync close to what was missed (a 64 B write costs one 64 KiB copy, ~50 µs on a
 * fast link) while the whole map of a 64 GiB pool fits in 128 KiB of memory and file.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Granularity } from '../storage/native';
import { normalizeAttr } from '../storage/pool-attr';
import { PoolFile } from '../storage/pool-file';
import { HEADER_BYTES } from '../storage/pool-header';

const MIN_BLOCK_BYTES = 64 * 1024;
const MAX_BITS = 1 << 20;
const SIGNATURE = Buffer.from('RPMEMDRT');

/** Block size the map uses for a pool of `dataBytes` usable bytes. */
export function blockBytesFor(dataBytes: number): number {
  let block = MIN_BLOCK_BYTES;
  while (Math.ceil(dataBytes / block) > MAX_BITS) block *= 2;
  return block;
}

/** Bytes of bits a map of a pool of `dataBytes` usable bytes holds. */
function mapBytesFor(dataBytes: number): number {
  return Math.max(1, Math.ceil(Math.ceil(dataBytes / blockBytesFor(dataBytes)) / 8));
}

/** The map file's path for `replica` of the pool at `poolPath`. */
export function dirtyMapPath(poolPath: string, replica: string): string {
  return `${poolPath}.dirty-${crypto.createHash('sha256').update(replica).digest('hex').slice(0, 16)}`;
}

/** What a replica's DirtyMap file says, as {@link peekDirtyMap} reads it. */
export interface DirtyMapSummary {
  markedBlocks: number;
  blockBytes: number;
  /** The replica pool (uuid) the marks are known to be complete for; undefined when the next resync must compare checksums. */
  completeFor?: Buffer;
}

/**
 * Counts the marks in `replica`'s map of the pool at `poolPath` (identity `localUuid`, `dataBytes`
 * usable bytes) without opening or locking it, so `rpmem status` works while the primary runs.
 * Undefined when there is no map for this pool: every block will be compared at the next resync.
 */
export function peekDirtyMap(poolPath: string, localUuid: Buffer, replica: string, dataBytes: number): DirtyMapSummary | undefined {
  const file = dirtyMapPath(poolPath, replica);
  if (!fs.existsSync(file)) return undefined;
  const header = PoolFile.peekHeader(file);
  // A map left by another local pool or pool size is replaced at the next open: it says nothing.
  if (!header.attr.poolsetUuid.equals(localUuid) || header.poolSize !== HEADER_BYTES + mapBytesFor(dataBytes)) return undefined;
  const blockBytes = blockBytesFor(dataBytes);
  const blocks = Math.ceil(dataBytes / blockBytes);
  const bits = fs.readFileSync(file).subarray(HEADER_BYTES);
  let markedBlocks = 0;
  for (let b = 0; b < blocks; b++) if ((bits[b >> 3] & (1 << (b & 7))) !== 0) markedBlocks++;
  return { markedBlocks, blockBytes, completeFor: header.syncState === 'clean' ? header.attr.uuid : undefined };
}

export class DirtyMap {
  readonly blockBytes: number;
  readonly blocks: number;
  /** The bits as last made durable. */
  private durable: Buffer;
  private readonly pendingSet = new Set<number>();
  private readonly pendingClear = new Set<number>();
  /** Clears being written right now: a mark of one of these must write the bit again. */
  private clearing = new Set<number>();
  private tail: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;

  private constructor(
    private readonly file: PoolFile,
    dataBytes: number,
  ) {
    this.blockBytes = blockBytesFor(dataBytes);
    this.blocks = Math.ceil(dataBytes / this.blockBytes);
    this.durable = file.read(HEADER_BYTES, file.poolSize - HEADER_BYTES);
  }

  /**
   * Opens the map of `replica`, creating it (not authoritative) when missing or when it belongs
   * to another local pool (`localUuid`) or another pool size.
   */
  static async open(poolPath: string, localUuid: Buffer, replica: string, dataBytes: number, granularity: Granularity): Promise<DirtyMap> {
    const file = dirtyMapPath(poolPath, replica);
    const bytes = mapBytesFor(dataBytes);
    if (fs.existsSync(file)) {
      const existing = PoolFile.open(file, { granularity });
      const ours = existing.attr.poolsetUuid.equals(localUuid) && existing.poolSize === HEADER_BYTES + bytes;
      if (ours) return new DirtyMap(existing, dataBytes);
      await existing.close();
      fs.rmSync(file);
    }
    const created = await PoolFile.create(file, {
      poolSize: HEADER_BYTES + bytes,
      attr: normalizeAttr({ signature: SIGNATURE, poolsetUuid: localUuid }),
      granularity,
    });
    await created.setSyncState('syncing', 0n, created.claim);
    return new DirtyMap(created, dataBytes);
  }

  /**
   * True when the marks cover every difference with the replica whose pool uuid is `replicaUuid`.
   * False for a new map, after {@link invalidate}, or for a replica pool that was replaced.
   */
  authoritativeFor(replicaUuid: Buffer): boolean {
    return this.file.syncState === 'clean' && this.file.attr.uuid.equals(replicaUuid);
  }

  /** Records that the marks now cover every difference with replica pool `replicaUuid`. */
  async setAuthoritative(replicaUuid: Buffer): Promise<void> {
    await this.file.setAttr({ ...this.file.attr, uuid: replicaUuid });
    await this.file.setSyncState('clean', 0n, this.file.claim);
  }

  /** Forgets that the marks are complete: the next resync compares checksums of every block. */
  invalidate(): Promise<void> {
    return this.file.setSyncState('syncing', 0n, this.file.claim);
  }

  /** First and last block a data-area range touches. */
  blocksOf(offset: number, length: number): [number, number] {
    return [Math.floor(offset / this.blockBytes), Math.floor((offset + length - 1) / this.blockBytes)];
  }

  /** True when `block` is durably marked and no clear of it is pending. */
  isMarked(block: number): boolean {
    return (this.durable[block >> 3] & (1 << (block & 7))) !== 0 && !this.pendingClear.has(block);
  }

  /**
   * Marks blocks `first..last` durably. Returns undefined when they already are (the fast path:
   * nothing to wait for), else a promise that settles once the marks are durable.
   */
  mark(first: number, last: number): Promise<void> | undefined {
    let needed = false;
    for (let b = first; b <= last; b++) {
      this.pendingClear.delete(b);
      if (!this.isDurablySet(b) || this.pendingSet.has(b) || this.clearing.has(b)) {
        this.pendingSet.add(b);
        needed = true;
      }
    }
    return needed ? this.schedule() : undefined;
  }

  /** Clears `blocks` durably (once the replica holds them). */
  clear(blocks: Iterable<number>): Promise<void> {
    for (const b of blocks) {
      this.pendingSet.delete(b);
      if (this.isDurablySet(b)) this.pendingClear.add(b);
    }
    return this.pendingClear.size > 0 ? this.schedule() : Promise.resolve();
  }

  /** Every marked block, durable or pending, in order. */
  marked(): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.blocks; b++) if (this.isMarked(b) || this.pendingSet.has(b)) out.push(b);
    return out;
  }

  /** Resolves once every mark and clear requested so far is durable. */
  settled(): Promise<void> {
    return this.queued ?? this.tail;
  }

  async close(): Promise<void> {
    await this.settled().catch(() => undefined);
    await this.file.close();
  }

  private isDurablySet(block: number): boolean {
    return (this.durable[block >> 3] & (1 << (block & 7))) !== 0;
  }

  /** Group commit: every mark or clear requested before the next write starts rides on it. */
  private schedule(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    const run = this.tail.then(() => {
      this.queued = undefined;
      return this.writeBits();
    });
    this.queued = run;
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async writeBits(): Promise<void> {
    const next = Buffer.from(this.durable);
    const touched = new Set<number>();
    for (const b of this.pendingSet) {
      next[b >> 3] |= 1 << (b & 7);
      touched.add(b >> 3);
    }
    for (const b of this.pendingClear) {
      next[b >> 3] &= ~(1 << (b & 7));
      touched.add(b >> 3);
    }
    this.clearing = new Set(this.pendingClear);
    this.pendingSet.clear();
    this.pendingClear.clear();
    const ranges = [...touched]
      .filter((i) => next[i] !== this.durable[i])
      .map((i) => ({ offset: HEADER_BYTES + i, data: next.subarray(i, i + 1) }));
    try {
      if (ranges.length > 0) await this.file.applyBatch(ranges, this.file.durableSeq + 1n, 0n, false);
      this.durable = next;
    } finally {
      this.clearing = new Set();
    }
  }
}
