/**
 * RemotePool: a pool on one target daemon. The control plane (create, open, stat, setAttr, close,
 * remove) is unary calls; the data plane is one Persist stream per open pool.
 *
 * Offsets and sizes here are data-area offsets: 0 is the first usable byte. They become pool-file
 * offsets (data area starts after the header) only on the wire.
 */
import { RpmemError, ErrorCode } from '../storage/errors';
import { fromServiceError } from '../wire/status';
import type { Granularity } from '../storage/native';
import { PoolAttr, normalizeAttr } from '../storage/pool-attr';
import { PoolInfo, fromWirePoolInfo, toWireAttr, toWireDurabilityRequirement, toWireOpenMode, toWireSyncState } from '../wire/conversions';
import { Durability, checkDurability, checkDurabilityRequirement } from '../storage/durability';
import { DEFAULT_MAX_BATCH_RANGES, PROTOCOL_VERSION } from '../wire/protocol';
import { HEADER_BYTES, NO_CLAIMANT } from '../storage/pool-header';
import type { EpochClaim } from '../storage/epoch-claim';
import { checkRange } from '../storage/range-check';
import {
  ConnectOptions,
  DEFAULT_ACK_TIMEOUT_MS,
  DEFAULT_MAX_INFLIGHT_BYTES,
  DEFAULT_MAX_MESSAGE_BYTES,
  RemotePoolCreateOptions,
  RemotePoolOpenOptions,
} from './options';
import { PersistResult, PersistStream, RangeSink } from './persist-stream';
import type { SyncState } from '../storage/pool-header';
import { TargetClient } from './target-client';
import type { SharedRange } from './shared-batch';

/** Options of {@link RemotePool.persist}. */
export interface PersistOptions {
  /** Also msync on cache-line granularity (deep persist). Default false. */
  deep?: boolean;
  /** Replication log sequence number, set by ReplicatedPool. Default 0 (none). */
  lsn?: bigint;
  /** The data's CRC32C, when already computed (it must match, or the target ends the stream with RPMEM_E_CHECKSUM). Default: computed here. */
  crc32c?: number;
  /**
   * The least durability this range needs: rejects at once with RPMEM_E_DURABILITY, sending
   * nothing, when the pool gives less (it is known from Open; acks are held to it). Default: none.
   * Example: `{ require: 'page' }` to be sure the range survives a power loss of the target.
   */
  require?: Durability;
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `size must be a positive integer, got ${size}`);
  }
}

/** A pool on a remote target, open for writing (or reading). */
export class RemotePool {
  private closed = false;
  private info: PoolInfo;

  private constructor(
    private readonly client: TargetClient,
    private readonly handle: string,
    info: PoolInfo,
    private readonly maxRangeBytes: number,
    private readonly stream: PersistStream | undefined,
    private readonly claim: EpochClaim | undefined,
  ) {
    this.info = info;
  }

  /**
   * Creates pool `name` of `options.size` usable bytes on `target` (`host:port`), then opens it.
   * Rejects with RPMEM_E_EXISTS, RPMEM_E_BAD_NAME, RPMEM_E_LIMIT, ...
   */
  static async create(target: string, name: string, options: RemotePoolCreateOptions): Promise<RemotePool> {
    checkSize(options.size);
    const attr = toWireAttr(normalizeAttr(options.attr));
    const client = new TargetClient(target, options);
    try {
      await client.create({
        protocolVersion: PROTOCOL_VERSION,
        name,
        poolSize: options.size + HEADER_BYTES,
        attr,
      });
    } catch (err) {
      client.close();
      throw err;
    }
    return RemotePool.openWith(client, name, options);
  }

  /** Opens pool `name` on `target`. A second writer on one pool gets RPMEM_E_BUSY. */
  static open(target: string, name: string, options: RemotePoolOpenOptions = {}): Promise<RemotePool> {
    return RemotePool.openWith(new TargetClient(target, options), name, options);
  }

  /**
   * @internal Opens a replica's pool as {@link open} does, its Persist stream of implied seqs when
   * the target takes them (see PersistStart.first_seq), so a batch ReplicatedPool fans out can be
   * encoded once for every replica ({@link persistTo} with a SharedRange). A target that does not
   * take them gets every range with its seq, and its own encoding of each batch.
   */
  static openReplica(target: string, name: string, options: RemotePoolOpenOptions): Promise<RemotePool> {
    return RemotePool.openWith(new TargetClient(target, options), name, options, true);
  }

  /** Reports pool `name` on `target` without opening it. */
  static async stat(target: string, name: string, options: ConnectOptions = {}): Promise<PoolInfo> {
    return withClient(target, options, async (client) => fromWirePoolInfo(await client.stat({ protocolVersion: PROTOCOL_VERSION, name })));
  }

  /** Reports every pool on `target` (that the token may see), by name. */
  static async list(target: string, options: ConnectOptions = {}): Promise<PoolInfo[]> {
    return withClient(target, options, async (client) =>
      (await client.list({ protocolVersion: PROTOCOL_VERSION })).pools.map((p) => fromWirePoolInfo(p)),
    );
  }

  /**
   * Asks pool `name` to promise its epoch to `claim`: accepted when the epoch is above the pool's,
   * or equal and unclaimed or claimed by the same claimant; else RPMEM_E_FENCED. Once accepted,
   * every writer of another claim is cut off with RPMEM_E_FENCED. Resolves with the pool's state
   * after the claim, which no earlier writer can change any more.
   */
  static async fence(target: string, name: string, claim: EpochClaim, options: ConnectOptions = {}): Promise<PoolInfo> {
    return withClient(target, options, async (client) =>
      fromWirePoolInfo(
        await client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: claim.epoch.toString(), claimant: claim.claimant }),
      ),
    );
  }

  /** Removes pool `name` from `target`; RPMEM_E_BUSY while it is open. */
  static async remove(target: string, name: string, options: ConnectOptions = {}): Promise<void> {
    await withClient(target, options, (client) => client.remove({ protocolVersion: PROTOCOL_VERSION, name }));
  }

  private static async openWith(
    client: TargetClient,
    name: string,
    options: RemotePoolOpenOptions,
    impliedSeq = false,
  ): Promise<RemotePool> {
    try {
      const required = checkDurabilityRequirement(options.requireDurability);
      const res = await client.open({
        protocolVersion: PROTOCOL_VERSION,
        name,
        mode: toWireOpenMode(options.readOnly ?? false),
        epoch: (options.claim?.epoch ?? 0n).toString(),
        claimant: options.claim?.claimant ?? NO_CLAIMANT,
        requireDurability: toWireDurabilityRequirement(required),
      });
      const info = await checkOpened(client, res.handle, () => {
        const opened = fromWirePoolInfo(res.info);
        // The target checks the requirement itself; this catches one that predates the field.
        checkDurability(`pool ${name} on ${client.address}`, opened.durability, required);
        return opened;
      });
      const stream = options.readOnly
        ? undefined
        : new PersistStream(client, res.handle, info.durableSeq + 1n, {
            claim: options.claim,
            durability: info.durability,
            maxInflightBytes: options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES,
            maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
            // A target that predates the field sends 0; its limit was none, ours is its later default.
            maxBatchRanges: res.maxBatchRanges || DEFAULT_MAX_BATCH_RANGES,
            ackTimeoutMs: options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS,
            impliedSeq: impliedSeq && res.impliedSeq,
          });
      return new RemotePool(client, res.handle, info, Number(res.maxRangeBytes), stream, options.claim);
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** The pool's name on its target. */
  get name(): string {
    return this.info.name;
  }

  /** Usable bytes. */
  get size(): number {
    return this.info.size;
  }

  /** The target's granularity for this pool. */
  get granularity(): Granularity {
    return this.info.granularity;
  }

  /** What a range the target made durable in this pool survives (reported at open; every ack must agree). */
  get durability(): Durability {
    return this.info.durability;
  }

  /**
   * Copies the data of every persist with an LSN of at most `lsn` that is not yet on the wire, so
   * its memory may be stored into again (see PersistStream.detach).
   */
  detach(lsn: bigint): void {
    this.stream?.detach(Number(lsn));
  }

  /** Abandons the Persist stream: every unacknowledged range rejects with `reason`, and the handle fails (sticky). */
  cancelStream(reason: RpmemError): void {
    this.stream?.cancel(reason);
  }

  /**
   * Settles with the error that fails this pool's Persist stream, when one does (a lost
   * connection is noticed even while idle). Never settles for a read-only pool.
   */
  whenFailed(): Promise<RpmemError> {
    return this.stream?.failed ?? new Promise<RpmemError>(() => undefined);
  }

  /** The pool's state as reported at open (or by the last setAttr / setSyncState). */
  get openInfo(): PoolInfo {
    return this.info;
  }

  /** Highest sequence number acknowledged as durable by the target. */
  get durableSeq(): bigint {
    return this.stream?.durableSeq ?? this.info.durableSeq;
  }

  /**
   * Sends `data` to be written at `offset` and resolves once the target has made it durable.
   * Many persists may be in flight; they are applied in call order. `data` must not change until
   * the promise settles. After any failure of the stream this and every later call reject (sticky).
   */
  persist(offset: number, data: Buffer, options: PersistOptions = {}): Promise<PersistResult> {
    try {
      if (options.require !== undefined)
        checkDurability(`pool ${this.name}`, this.info.durability, checkDurabilityRequirement(options.require, 'require'));
      return this.send(offset, data, options.deep === true, options.lsn ?? 0n, options.crc32c);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal A replicated range's send, as {@link persist} with an LSN and its CRC32C, told to `sink` rather
   * than through a promise (ReplicatedPool fans each range out to every replica). A refused range
   * reaches the sink in a microtask. `shared` is the same range as sent to the other replicas.
   */
  persistTo(offset: number, data: Buffer, lsn: bigint, crc: number, sink: RangeSink, shared?: SharedRange): void {
    try {
      const stream = this.writer();
      this.checkRangeBytes(data.length);
      stream.enqueue(this.fileOffset(offset, data.length), data, false, lsn, crc, sink, shared);
    } catch (err) {
      queueMicrotask(() => sink.failed(err as RpmemError));
    }
  }

  /** Like persist, and the target also msyncs the range even on cache-line granularity (librpmem's deep persist). */
  deepPersist(offset: number, data: Buffer): Promise<PersistResult> {
    return this.persist(offset, data, { deep: true });
  }

  /**
   * Sends `data` for `offset` without waiting. A bad range throws here; a failure after sending
   * fails the stream, which the next {@link drain} (and every later call) reports.
   */
  flush(offset: number, data: Buffer): void {
    this.send(offset, data, false, 0n).catch(() => undefined);
  }

  /** Resolves when everything sent so far is durable on the target; rejects if any of it failed. */
  drain(): Promise<void> {
    try {
      return this.writer().drain();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Reads `length` bytes at `offset` from the target's pool. */
  async read(offset: number, length: number): Promise<Buffer> {
    this.checkOpen();
    const fileOffset = this.fileOffset(offset, length);
    const chunks: Buffer[] = [];
    const call = this.client.read({ handle: this.handle, offset: fileOffset, length });
    await new Promise<void>((resolve, reject) => {
      call.on('data', (chunk: { data: Buffer }) => chunks.push(chunk.data));
      call.on('error', (err) => reject(err));
      call.on('end', () => resolve());
    }).catch((err: unknown) => {
      throw fromServiceError(err);
    });
    const out = Buffer.concat(chunks);
    if (out.length !== length) throw new RpmemError(ErrorCode.INTERNAL, `read returned ${out.length} of ${length} bytes`);
    return out;
  }

  /**
   * Digests of the `blockBytes` blocks of `[offset, offset+length)` (the last may be short), as the
   * target computes them from its pool: 16-byte truncated SHA-256 each.
   */
  async checksums(offset: number, length: number, blockBytes: number): Promise<Buffer[]> {
    this.checkOpen();
    const call = this.client.checksums({ handle: this.handle, offset: this.fileOffset(offset, length), length, blockBytes });
    const digests: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (chunk: { digests: Buffer[] }) => digests.push(...chunk.digests));
      call.on('error', (err) => reject(fromServiceError(err)));
      call.on('end', () => resolve());
    });
    return digests;
  }

  /**
   * Marks this pool as mid-resync (`syncing`) or as holding this writer's history up to `lsn`
   * (`clean`), durably on the target; RPMEM_E_FENCED unless the pool still promises this writer's claim.
   */
  async setSyncState(state: SyncState, lsn: bigint): Promise<void> {
    this.checkOpen();
    const res = await this.client.setSyncState({
      handle: this.handle,
      syncState: toWireSyncState(state),
      lsn: lsn.toString(),
      epoch: (this.claim?.epoch ?? 0n).toString(),
      claimant: this.claim?.claimant ?? NO_CLAIMANT,
    });
    this.info = fromWirePoolInfo(res);
  }

  /** The pool attributes as last read or set. */
  getAttr(): PoolAttr {
    return this.info.attr;
  }

  /** Replaces the pool attributes on the target, durably. */
  async setAttr(attr: Partial<PoolAttr>): Promise<void> {
    this.checkOpen();
    const res = await this.client.setAttr({ handle: this.handle, attr: toWireAttr(normalizeAttr(attr)) });
    this.info = fromWirePoolInfo(res);
  }

  /**
   * Waits for every persist in flight, ends the stream and releases the pool on the target.
   * If the stream had failed, only releases what is left; the failure was already reported.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.stream !== undefined && this.stream.error === undefined) {
        await this.stream.end();
      } else {
        this.stream?.cancel(new RpmemError(ErrorCode.CLOSED, 'pool closed'));
        await this.client.closeHandle({ handle: this.handle }).catch(() => undefined);
      }
    } finally {
      this.client.close();
    }
  }

  /** Validates and queues one range; throws synchronously on a bad range or a closed/read-only pool. */
  private send(offset: number, data: Buffer, deep: boolean, lsn: bigint, crc?: number): Promise<PersistResult> {
    const stream = this.writer();
    this.checkRangeBytes(data.length);
    return stream.persist(this.fileOffset(offset, data.length), data, deep, lsn, crc);
  }

  private checkRangeBytes(length: number): void {
    if (length > this.maxRangeBytes) {
      throw new RpmemError(ErrorCode.RANGE_TOO_LARGE, `range of ${length} bytes exceeds the target's maximum of ${this.maxRangeBytes}`);
    }
  }

  private writer(): PersistStream {
    this.checkOpen();
    if (this.stream === undefined) throw new RpmemError(ErrorCode.BAD_HANDLE, `pool ${this.name} is open read-only`);
    return this.stream;
  }

  private checkOpen(): void {
    if (this.closed) throw new RpmemError(ErrorCode.CLOSED, `pool ${this.name} is closed`);
  }

  /** Validates a data-area range and returns its pool-file offset. */
  private fileOffset(offset: number, length: number): number {
    checkRange(offset, length, this.size);
    return offset + HEADER_BYTES;
  }
}

/** The value of `check` on a freshly opened handle; when it throws, the handle is released first. */
async function checkOpened<T>(client: TargetClient, handle: string, check: () => T): Promise<T> {
  try {
    return check();
  } catch (err) {
    await client.closeHandle({ handle }).catch(() => undefined);
    throw err;
  }
}

async function withClient<T>(target: string, options: ConnectOptions, use: (c: TargetClient) => Promise<T>): Promise<T> {
  const client = new TargetClient(target, options);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
