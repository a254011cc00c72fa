/**
 * A pool file: its native mapping plus its crash-safe header. Both the daemon and the initiator's
 * local Pool use it, so a pool file is the same thing on every node.
 *
 * Every header update is serialized here, and data always becomes durable before the header that
 * claims it (docs/design.md I2): writeBatch makes the ranges durable, then the header slot.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { RpmemError, ErrorCode } from './errors';
import { GranularityRequest, NativePoolMapping, PACKED_RANGE_FIELDS, openMapping, wrapNative, Granularity } from './native';
import { HEADER_BYTES, NO_CLAIMANT, PoolHeader, SyncState, decodeHeader, encodeHeader, slotOffset } from './pool-header';
import { EpochClaim, checkClaim, sameClaim } from './epoch-claim';
import { PoolAttr } from './pool-attr';
import { Durability, durabilityOf, isVolatileFsType } from './durability';

/** One range to write: a file offset and its bytes. */
export interface FileRange {
  offset: number;
  data: Buffer;
}

/** Bytes of one block digest (truncated SHA-256): collisions are out of reach, transfers stay small. */
export const DIGEST_BYTES = 16;

export interface PoolFileCreateOptions {
  /** File size in bytes, header included. */
  poolSize: number;
  attr: PoolAttr;
  granularity?: GranularityRequest;
  /** Initial fencing epoch. Default 1. */
  epoch?: bigint;
}

export interface PoolFileOpenOptions {
  granularity?: GranularityRequest;
  readOnly?: boolean;
}

export class PoolFile {
  private header: PoolHeader;
  /** The tail of the chain every header-writing operation joins, so generations never race. */
  private tail: Promise<void> = Promise.resolve();
  /** What a range made durable here survives: from the mapping (granularity, MAP_SYNC) and the file system it is on. */
  readonly durability: Durability;
  /** File size in bytes. Fixed while open, so read once: the addon's getter is a call into C++ (every range checks it). */
  readonly poolSize: number;
  /** Fixed while open, so read once: the addon's getter makes a new string (every ack carries it). */
  readonly granularity: Granularity;

  private constructor(
    readonly path: string,
    readonly mapping: NativePoolMapping,
    header: PoolHeader,
  ) {
    this.header = header;
    this.poolSize = mapping.size;
    this.granularity = mapping.granularity;
    this.durability = durabilityOf({
      granularity: this.granularity,
      isPmem: mapping.isPmem,
      volatileFs: isVolatileFsType(fs.statfsSync(path).type),
    });
  }

  /**
   * Creates the pool file atomically: it is built under a hidden temporary name, its first header
   * made durable, and only then linked to `file` (link fails if `file` exists, so two creators
   * cannot both win). A crash leaves at most a hidden temporary file, never a pool without a header.
   */
  static async create(file: string, options: PoolFileCreateOptions): Promise<PoolFile> {
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.creating-${crypto.randomBytes(6).toString('hex')}`);
    const mapping = openMapping(tmp, { create: true, size: options.poolSize, granularity: options.granularity });
    const header: PoolHeader = {
      generation: 1n,
      poolSize: options.poolSize,
      poolUuid: crypto.randomBytes(16),
      durableSeq: 0n,
      epoch: options.epoch ?? 1n,
      claimant: NO_CLAIMANT,
      historyEpoch: 0n,
      lsn: 0n,
      syncState: 'clean',
      attr: options.attr,
    };
    try {
      await writeBatch(mapping, [], header, false);
      linkNew(tmp, file);
    } catch (err) {
      await mapping.close();
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    fs.rmSync(tmp);
    syncDir(dir);
    return new PoolFile(file, mapping, header);
  }

  /** Opens an existing pool file; throws RPMEM_E_NO_POOL, RPMEM_E_BUSY or RPMEM_E_CORRUPT. */
  static open(file: string, options: PoolFileOpenOptions = {}): PoolFile {
    const mapping = openMapping(file, { granularity: options.granularity, readOnly: options.readOnly });
    try {
      if (mapping.size <= HEADER_BYTES) {
        throw new RpmemError(ErrorCode.CORRUPT, `${file}: ${mapping.size} bytes is too small for a pool`);
      }
      return new PoolFile(file, mapping, decodeHeader(mapping.read(0, HEADER_BYTES), mapping.size, file));
    } catch (err) {
      void mapping.close();
      throw err;
    }
  }

  /**
   * Reads the header of `file` without mapping or locking it, so status tools can look at a pool
   * another process holds. The answer may be one update behind that process; throws
   * RPMEM_E_NO_POOL or RPMEM_E_CORRUPT.
   */
  static peekHeader(file: string): PoolHeader {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RpmemError(ErrorCode.NO_POOL, `no pool file ${file}`);
      throw new RpmemError(ErrorCode.IO, `cannot read ${file}: ${(err as Error).message}`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= HEADER_BYTES) throw new RpmemError(ErrorCode.CORRUPT, `${file}: ${size} bytes is too small for a pool`);
      const image = Buffer.alloc(HEADER_BYTES);
      fs.readSync(fd, image, 0, HEADER_BYTES, 0);
      return decodeHeader(image, size, file);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes a pool file that no process holds; throws RPMEM_E_BUSY if one does. */
  static async remove(file: string): Promise<void> {
    const pool = PoolFile.open(file);
    try {
      fs.rmSync(file);
      syncDir(path.dirname(file));
    } finally {
      await pool.close();
    }
  }

  get durableSeq(): bigint {
    return this.header.durableSeq;
  }

  get epoch(): bigint {
    return this.header.epoch;
  }

  get poolUuid(): Buffer {
    return this.header.poolUuid;
  }

  /** The epoch this pool promised and to whom. */
  get claim(): EpochClaim {
    return { epoch: this.header.epoch, claimant: this.header.claimant };
  }

  /** The epoch of the writer whose history this copy holds, up to `lsn`. */
  get historyEpoch(): bigint {
    return this.header.historyEpoch;
  }

  get lsn(): bigint {
    return this.header.lsn;
  }

  get syncState(): SyncState {
    return this.header.syncState;
  }

  get attr(): PoolAttr {
    return this.header.attr;
  }

  /**
   * Makes `ranges` durable, then records `durableSeq` in the header and makes that durable.
   * Resolves only when both are; on failure the mapping is failed (sticky) and the header unchanged.
   * With `writer`, the batch is refused (RPMEM_E_FENCED, nothing written) unless the pool still
   * promises exactly that claim when the batch's turn comes; its LSN joins the pool's history only
   * while the pool is clean and its history is the writer's (a resyncing copy keeps its clean point).
   */
  applyBatch(ranges: FileRange[], durableSeq: bigint, lsn: bigint, deep: boolean, writer?: EpochClaim): Promise<void> {
    return this.updateHeader(
      (h) => {
        if (writer !== undefined && !sameClaim(h, writer)) checkClaim(h, writer);
        const ownHistory = writer !== undefined && h.syncState === 'clean' && h.historyEpoch === writer.epoch;
        return { ...h, durableSeq, lsn: ownHistory && lsn > h.lsn ? lsn : h.lsn };
      },
      ranges,
      deep,
    );
  }

  /**
   * Promises this pool's epoch to `claim`, durably, or throws RPMEM_E_FENCED (see epoch-claim.ts).
   * Decided on the header chain, so it orders exactly with every batch; a claim the pool already
   * holds writes nothing.
   */
  claimEpoch(claim: EpochClaim): Promise<void> {
    return this.updateHeader(
      (h) => {
        checkClaim(h, claim);
        return sameClaim(h, claim) ? undefined : { ...h, epoch: claim.epoch, claimant: claim.claimant };
      },
      [],
      false,
    );
  }

  /**
   * Records whether this copy is mid-resync and, when clean, that it holds `writer`'s history up to
   * `lsn` (the LSN the resync made it complete up to). Marking it syncing keeps its last clean point,
   * which promotion still reads. Refused (RPMEM_E_FENCED) unless the pool promises `writer`'s claim.
   */
  setSyncState(syncState: SyncState, lsn: bigint, writer: EpochClaim): Promise<void> {
    return this.updateHeader(
      (h) => {
        if (!sameClaim(h, writer)) checkClaim(h, writer);
        if (syncState === 'syncing') return { ...h, syncState };
        const sameHistory = h.historyEpoch === writer.epoch;
        return { ...h, syncState, historyEpoch: writer.epoch, lsn: sameHistory && h.lsn > lsn ? h.lsn : lsn };
      },
      [],
      false,
    );
  }

  /** Replaces the pool attributes, durably. */
  setAttr(attr: PoolAttr): Promise<void> {
    return this.updateHeader((h) => ({ ...h, attr }), [], false);
  }

  /** Returns a copy of `[offset, offset+length)` (file offsets). */
  read(offset: number, length: number): Buffer {
    try {
      return this.mapping.read(offset, length);
    } catch (err) {
      throw wrapNative(err);
    }
  }

  /**
   * Digests of consecutive `blockBytes` blocks of `[offset, offset+length)` (the last may be short):
   * SHA-256 truncated to 16 bytes, hashed straight from the mapping.
   */
  digests(offset: number, length: number, blockBytes: number): Buffer[] {
    let view: Buffer;
    try {
      view = this.mapping.buffer();
    } catch (err) {
      throw wrapNative(err);
    }
    const out: Buffer[] = [];
    for (let at = offset; at < offset + length; at += blockBytes) {
      const end = Math.min(at + blockBytes, offset + length);
      out.push(crypto.createHash('sha256').update(view.subarray(at, end)).digest().subarray(0, DIGEST_BYTES));
    }
    return out;
  }

  /** Waits for in-flight work, then unmaps and unlocks the file. */
  async close(): Promise<void> {
    await this.tail.catch(() => undefined);
    await this.mapping.close().catch((err: unknown) => {
      throw wrapNative(err);
    });
  }

  /** Queues a header update on the chain; `change` may throw to refuse it, or return undefined to write nothing. */
  private updateHeader(change: (h: PoolHeader) => PoolHeader | undefined, ranges: FileRange[], deep: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      const changed = change(this.header);
      if (changed === undefined) return;
      const next = { ...changed, generation: this.header.generation + 1n };
      await writeBatch(this.mapping, ranges, next, deep);
      this.header = next;
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

async function writeBatch(mapping: NativePoolMapping, ranges: FileRange[], header: PoolHeader, deep: boolean): Promise<void> {
  const trailerOffset = slotOffset(header.generation);
  const trailer = encodeHeader(header);
  const packed = packRanges(ranges);
  try {
    await (packed !== undefined
      ? mapping.writePacked(packed.source, packed.plan, trailerOffset, trailer, deep)
      : mapping.writeBatch(
          ranges.map((r) => r.offset),
          ranges.map((r) => r.data),
          trailerOffset,
          trailer,
          deep,
        ));
  } catch (err) {
    throw wrapNative(err);
  }
}

/**
 * The ranges as one source and a writePacked plan when all their data are views of one memory
 * (the ranges of one received Persist message, as the codec decodes them), which crosses into the
 * addon once instead of once per range; else undefined. One range is always packed: writeBatch's
 * two arrays of one element cost more at the boundary than a plan of three numbers (in a QD1
 * profile of rpmemd the addon's reads of the offsets array converted its elements on every call).
 */
function packRanges(ranges: FileRange[]): { source: Buffer; plan: Float64Array } | undefined {
  if (ranges.length === 0) return undefined;
  if (ranges.length === 1) return { source: ranges[0].data, plan: new Float64Array([ranges[0].offset, 0, ranges[0].data.length]) };
  const backing = ranges[0].data.buffer;
  let lo = Infinity;
  let hi = 0;
  for (const { data } of ranges) {
    if (data.buffer !== backing) return undefined;
    lo = Math.min(lo, data.byteOffset);
    hi = Math.max(hi, data.byteOffset + data.length);
  }
  const plan = new Float64Array(ranges.length * PACKED_RANGE_FIELDS);
  ranges.forEach((r, i) => {
    plan[i * PACKED_RANGE_FIELDS] = r.offset;
    plan[i * PACKED_RANGE_FIELDS + 1] = r.data.byteOffset - lo;
    plan[i * PACKED_RANGE_FIELDS + 2] = r.data.length;
  });
  return { source: Buffer.from(backing, lo, hi - lo), plan };
}

function linkNew(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new RpmemError(ErrorCode.EXISTS, `pool ${path.basename(to)} exists already`);
    }
    throw new RpmemError(ErrorCode.IO, `cannot create ${to}: ${(err as Error).message}`, { cause: err });
  }
}

/** Makes a directory's entries (a new link, a removed name) durable. */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
