/**
 * Pool: a pool file on this machine, mapped into memory. The application stores into
 * {@link Pool.buffer} and calls {@link Pool.persist} to make a range durable, as with libpmem2.
 * Offsets are data-area offsets: `buffer[0]` is the first usable byte.
 */
import { RpmemError, ErrorCode } from '../storage/errors';
import type { EpochClaim } from '../storage/epoch-claim';
import { Granularity, GranularityRequest, wrapNative } from '../storage/native';
import { PoolAttr, normalizeAttr } from '../storage/pool-attr';
import { PoolFile } from '../storage/pool-file';
import { HEADER_BYTES } from '../storage/pool-header';
import { checkRange } from '../storage/range-check';
import { Durability, checkDurability, checkDurabilityRequirement } from '../storage/durability';
import { PoolCreateOptions, PoolOptions } from './options';

const GRANULARITY_ENV = 'RPMEM_FORCE_GRANULARITY';

function requestedGranularity(options: PoolOptions): GranularityRequest {
  const fromEnv = process.env[GRANULARITY_ENV];
  const request = options.granularity ?? fromEnv ?? 'auto';
  if (request !== 'auto' && request !== 'cache-line' && request !== 'page') {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `granularity must be auto, cache-line or page, got "${request}"`);
  }
  return request;
}

/** A local, memory-mapped pool file. */
export class Pool {
  /** A zero-copy view of the pool's data area. Stores become durable with {@link persist}. */
  readonly buffer: Buffer;
  private closed = false;

  private constructor(private readonly file: PoolFile) {
    this.buffer = file.mapping.buffer().subarray(HEADER_BYTES);
  }

  /** Creates a pool file at `path` with `options.size` usable bytes; RPMEM_E_EXISTS if the file exists. */
  static async create(path: string, options: PoolCreateOptions): Promise<Pool> {
    if (!Number.isSafeInteger(options.size) || options.size <= 0) {
      throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `size must be a positive integer, got ${options.size}`);
    }
    const file = await PoolFile.create(path, {
      poolSize: options.size + HEADER_BYTES,
      attr: normalizeAttr(options.attr),
      granularity: requestedGranularity(options),
    });
    return Pool.checked(file, options);
  }

  /** Opens the pool file at `path`; RPMEM_E_BUSY if another process holds it. */
  static async open(path: string, options: PoolOptions = {}): Promise<Pool> {
    return Pool.checked(PoolFile.open(path, { granularity: requestedGranularity(options) }), options);
  }

  private static async checked(file: PoolFile, options: PoolOptions): Promise<Pool> {
    try {
      if (options.requireGranularity === 'cache-line' && file.granularity !== 'cache-line') {
        throw new RpmemError(ErrorCode.GRANULARITY, `${file.path} has ${file.granularity} granularity; cache-line is required`);
      }
      checkDurability(file.path, file.durability, checkDurabilityRequirement(options.requireDurability));
    } catch (err) {
      await file.close();
      throw err;
    }
    return new Pool(file);
  }

  /** The pool file's path. */
  get path(): string {
    return this.file.path;
  }

  /** Usable bytes. */
  get size(): number {
    return this.file.poolSize - HEADER_BYTES;
  }

  /** How persist makes stores durable here. */
  get granularity(): Granularity {
    return this.file.granularity;
  }

  /**
   * What a range persist made durable here survives: `pmem` on a DAX mapping at cache-line
   * granularity, `page` when synced to a file on storage, `emulated` otherwise (see {@link Durability}).
   */
  get durability(): Durability {
    return this.file.durability;
  }

  /** The pool's identity, fixed at create. */
  get poolUuid(): Buffer {
    return this.file.poolUuid;
  }

  /** Fencing epoch: raised by promotion; replicas refuse writers below theirs. */
  get epoch(): bigint {
    return this.file.epoch;
  }

  /** Highest replication LSN recorded here (ReplicatedPool records it on close). */
  get lsn(): bigint {
    return this.file.lsn;
  }

  /** The epoch this pool's primary writes its replicas under, and its claimant (see epoch-claim.ts). */
  get claim(): EpochClaim {
    return this.file.claim;
  }

  /** Takes `claim` as this primary's, durably: a higher epoch, or a claimant for an unclaimed one. */
  claimEpoch(claim: EpochClaim): Promise<void> {
    this.checkOpen();
    return this.file.claimEpoch(claim);
  }

  /** Records the replication LSN, durably. */
  recordLsn(lsn: bigint): Promise<void> {
    this.checkOpen();
    return this.file.setSyncState('clean', lsn, this.file.claim);
  }

  /**
   * Digests of the `blockBytes` blocks of `buffer[offset, offset+length)` (the last may be
   * short), the same 16-byte truncated SHA-256 a target computes, for verify and resync.
   */
  checksums(offset: number, length: number, blockBytes: number): Buffer[] {
    this.checkRange(offset, length);
    return this.file.digests(offset + HEADER_BYTES, length, blockBytes);
  }

  /**
   * Makes `buffer[offset, offset+length)` durable: cache-line → flush the lines and fence;
   * page → msync. Off the event loop, except small cache-line ranges (see INLINE_MAX_BYTES in
   * storage/native.ts), which cost less on the calling thread. `options.require` rejects with
   * RPMEM_E_DURABILITY, flushing nothing, when this pool gives less ({@link durability}).
   */
  async persist(offset: number, length: number, options: { deep?: boolean; require?: Durability } = {}): Promise<void> {
    this.checkRange(offset, length);
    if (options.require !== undefined)
      checkDurability(this.path, this.file.durability, checkDurabilityRequirement(options.require, 'require'));
    try {
      await this.file.mapping.persist(offset + HEADER_BYTES, length, options.deep === true);
    } catch (err) {
      throw wrapNative(err);
    }
  }

  /** Like persist, and msyncs even on cache-line granularity. */
  deepPersist(offset: number, length: number): Promise<void> {
    return this.persist(offset, length, { deep: true });
  }

  getAttr(): PoolAttr {
    return this.file.attr;
  }

  /** Replaces the pool attributes, durably. */
  setAttr(attr: Partial<PoolAttr>): Promise<void> {
    this.checkOpen();
    return this.file.setAttr(normalizeAttr(attr));
  }

  /** Waits for in-flight persists, then unmaps the file. `buffer` stays safe to touch but no longer reaches the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new RpmemError(ErrorCode.CLOSED, `pool ${this.path} is closed`);
  }

  private checkRange(offset: number, length: number): void {
    this.checkOpen();
    checkRange(offset, length, this.size);
  }
}
