/**
 * One Persist stream on the target: the data plane.
 *
 * Ranges are validated as they arrive and queued; whatever has queued while the previous batch was
 * being made durable becomes the next batch (group commit: one fence or one fdatasync per batch).
 * After a batch and the header recording its last seq are durable, one cumulative ack goes out
 * (docs/design.md I1–I3). A bad range stops intake: everything validated before it is still made
 * durable and acked, then the stream ends with the error naming the bad seq.
 */
import type * as grpc from '@grpc/grpc-js';
import { RpmemError, ErrorCode, asRpmemError } from '../storage/errors';
import { toServiceError } from '../wire/status';
import { EpochClaim, checkClaim, checkClaimant, checkEpochValue, checkPlainWriter, claimRefusal, sameClaim } from '../storage/epoch-claim';
import { NO_CLAIMANT, HEADER_BYTES } from '../storage/pool-header';
import { crc32c } from '../storage/native';
import { FileRange } from '../storage/pool-file';
import type { DecodedPersistRequest, PersistAckFrame, PersistRange } from '../wire/persist-codec';
import { isDeepRange, toWireDurabilityValue, unknownRangeFlags } from '../wire/conversions';
import type { TargetConfig } from './config-keys';
import type { Log } from './log';
import { Handle, PoolRegistry } from './pool-registry';
import { checkProtocol } from './protocol-check';
import type { Principal } from './auth';
import type { TargetMetrics } from './metrics';

export type PersistCall = grpc.ServerDuplexStream<DecodedPersistRequest, PersistAckFrame>;

/**
 * What a received range holds besides its data until it is durable: its decoded record, its Buffer
 * view and its queue entry (measured: 240 to 530 bytes of heap per range, bench/experiments/
 * decode-amplification.ts). Counted against max-inflight-bytes, so a stream of tiny ranges is
 * bounded in ranges as well as in bytes.
 */
export const RANGE_COST_BYTES = 512;

interface QueuedRange extends FileRange {
  seq: number;
  lsn: number;
  deep: boolean;
  /** When the message carrying it arrived (hrtime ns), for the durable-ack latency metric. */
  arrivedNs: bigint;
}

export class PersistSession {
  private handle?: Handle;
  /** The writer's claim: its batches are refused once the pool promises its epoch to another. */
  private claim: EpochClaim = { epoch: 0n, claimant: NO_CLAIMANT };
  private expectedSeq = 0;
  /** The PersistStart stated first_seq: ranges leave their seq out and are numbered here, in arrival order. */
  private impliedSeq = false;
  private queue: QueuedRange[] = [];
  /** Memory held by ranges received and not yet durable (data plus RANGE_COST_BYTES each): the queue plus the batch being written. */
  private unsyncedBytes = 0;
  private writing = false;
  /** Set once intake stops: the error the stream ends with, after what is queued is durable. */
  private failure?: RpmemError;
  private clientDone = false;
  private cancelled = false;
  private finished = false;
  private readonly log: Log;
  private idleTimer?: NodeJS.Timeout;
  private resolveDone!: () => void;
  /** Settles when the stream has ended and its handle is released. */
  readonly done = new Promise<void>((resolve) => (this.resolveDone = resolve));

  constructor(
    private readonly call: PersistCall,
    private readonly registry: PoolRegistry,
    private readonly config: TargetConfig,
    log: Log,
    private readonly caller: Principal,
    private readonly metrics?: TargetMetrics,
  ) {
    this.log = log.child({ peer: call.getPeer() });
    call.on('data', (msg: DecodedPersistRequest) => this.onMessage(msg));
    this.armIdleTimer();
    call.on('end', () => {
      this.clientDone = true;
      this.pump();
    });
    call.on('cancelled', () => this.abandoned('client cancelled the stream'));
    // A stream can also die without 'cancelled' (a reset mid-message, a transport error); every
    // way out must end the session, or its handle and its stream slot are never released.
    call.on('error', () => this.abandoned('stream failed'));
    call.on('close', () => this.abandoned('stream closed'));
  }

  /** The client is gone: apply what was validated (nobody is told), then release the handle. */
  private abandoned(why: string): void {
    // grpc-js also reports 'close' and 'cancelled' for a stream whose status went out (when the
    // client hangs up right after it), and a client's RST_STREAM arrives as a half-close first:
    // only a stream still open both ways lost its client. Info, not warn: clients vanish (crash,
    // cut cable, keepalive timeout) and the daemon copes, but the operator should see it.
    if (!this.cancelled && !this.clientDone && !this.finished) {
      this.log.info('persist stream abandoned by its client', {
        pool: this.handle?.name,
        why,
        lastSeqReceived: this.handle === undefined ? undefined : this.expectedSeq - 1,
      });
    }
    if (this.finished) return;
    this.cancelled = true;
    this.stopIntake(new RpmemError(ErrorCode.CLOSED, why));
  }

  /** Stops taking ranges, makes what was received durable and acks it, then ends with SHUTDOWN. */
  shutdown(): Promise<void> {
    this.stopIntake(new RpmemError(ErrorCode.SHUTDOWN, 'target is shutting down; ranges after the last ack were not applied'));
    return this.done;
  }

  private onMessage(msg: DecodedPersistRequest): void {
    if (this.failure !== undefined) return;
    this.armIdleTimer();
    try {
      if (this.handle === undefined) this.begin(msg);
      else this.accept(msg);
    } catch (err) {
      this.stopIntake(asRpmemError(err, ErrorCode.INTERNAL, 'internal error'));
    }
    this.pump();
  }

  private begin(msg: DecodedPersistRequest): void {
    if (msg.kind !== 'start') {
      throw unexpected(msg, 'the first message of a Persist stream must be a PersistStart');
    }
    checkProtocol(msg.start.protocolVersion);
    const handle = this.registry.get(msg.start.handle, 'read-write');
    try {
      this.caller.authorize(handle.name, 'write');
      this.startSeq(handle, msg.start.firstSeq ?? 0);
      this.claim = this.writerClaim(handle, msg.start.epoch, msg.start.claimant);
      this.registry.attachStream(handle, this.claim, (claim) => this.stopIntake(fenced(this.claim, claim)));
    } catch (err) {
      // A refused writer keeps nothing on the target: not even the handle until its lease runs out.
      if (err instanceof RpmemError && (err.code === ErrorCode.FENCED || err.code === ErrorCode.SEQUENCE))
        void this.registry.release(handle);
      throw err;
    }
    this.handle = handle;
    const file = handle.pool.file;
    // Queued ahead of every batch on the file's header chain, so nothing is acked before it is durable.
    if (!sameClaim(file.claim, this.claim)) void file.claimEpoch(this.claim).catch(() => undefined);
    this.log.debug('persist stream started', { pool: handle.name, nextSeq: this.expectedSeq, epoch: this.claim.epoch });
  }

  /**
   * The seq of the stream's first range: durable_seq + 1. docs/design.md I3 for implied seqs: the
   * writer numbers its ranges from first_seq and this stream from durable_seq + 1, so the two agree
   * from the first range on or nothing is taken. Checked before the claim, so that a refused start
   * changes nothing on the pool.
   */
  private startSeq(handle: Handle, firstSeq: number): void {
    this.expectedSeq = Number(handle.pool.file.durableSeq) + 1;
    if (firstSeq === 0) return;
    if (firstSeq !== this.expectedSeq) {
      const stated = Number.isSafeInteger(firstSeq) ? String(firstSeq) : 'above 2^53 - 1';
      throw new RpmemError(
        ErrorCode.SEQUENCE,
        `PersistStart.first_seq ${stated}, but the pool's durable seq is ${this.expectedSeq - 1}: expected first_seq ${this.expectedSeq}`,
      );
    }
    this.impliedSeq = true;
  }

  /**
   * The claim this stream writes under. Epoch 0 is a plain writer, allowed only on a pool no
   * replication primary claimed; any other claim must be one the pool accepts (epoch-claim.ts).
   */
  private writerClaim(handle: Handle, epoch: bigint, claimant: Buffer): EpochClaim {
    const held = handle.pool.file.claim;
    if (epoch === 0n) {
      checkPlainWriter(handle.name, held);
      return held;
    }
    const claim = { epoch: checkEpochValue(epoch, 'epoch'), claimant: checkClaimant(claimant) };
    checkClaim(held, claim);
    return claim;
  }

  private accept(msg: DecodedPersistRequest): void {
    if (msg.kind === 'too-many-ranges') {
      throw new RpmemError(
        ErrorCode.LIMIT,
        `a PersistBatch of more than ${msg.limit} ranges (max-batch-ranges); send fewer ranges per message`,
      );
    }
    if (msg.kind !== 'batch') throw unexpected(msg, 'expected a PersistBatch after the PersistStart');
    const held = this.handle!.pool.file.claim;
    if (!sameClaim(held, this.claim)) throw fenced(this.claim, held);
    const arrivedNs = process.hrtime.bigint();
    for (const range of msg.ranges) {
      const queued = this.validate(range, this.seqOf(range), arrivedNs);
      this.queue.push(queued);
      this.unsyncedBytes += queued.data.length + RANGE_COST_BYTES;
      this.expectedSeq += 1;
    }
    if (this.unsyncedBytes >= this.config.maxInflightBytes) this.call.pause();
  }

  /**
   * The seq `range` is taken at: its own, or on a stream of implied seqs the next one. A range of
   * the other form than its stream's is refused, so the forms never mix on one stream.
   */
  private seqOf(range: PersistRange): number {
    if (!this.impliedSeq) {
      if (range.seq === 0) {
        throw rangeError(
          0,
          ErrorCode.SEQUENCE,
          `a range without seq on a stream whose PersistStart stated no first_seq; expected seq ${this.expectedSeq}`,
        );
      }
      return range.seq;
    }
    if (range.seq !== 0) {
      throw rangeError(
        this.expectedSeq,
        ErrorCode.SEQUENCE,
        'a range carries a seq on a stream whose PersistStart stated first_seq (implied seqs)',
      );
    }
    return this.expectedSeq;
  }

  /** Checks `range`, taken at `seq`, in the order its fields can be wrong, so each fault gets its own stable code. */
  private validate(range: PersistRange, seq: number, arrivedNs: bigint): QueuedRange {
    const { offset, data, flags, lsn } = range;
    // An unsafe seq decodes inexactly: naming it (or putting it in the error's seq) would mislead.
    if (!Number.isSafeInteger(seq)) {
      throw new RpmemError(ErrorCode.SEQUENCE, `seq above 2^53 - 1; expected seq ${this.expectedSeq}`);
    }
    if (seq !== this.expectedSeq) throw rangeError(seq, ErrorCode.SEQUENCE, `expected seq ${this.expectedSeq}`);
    const length = data.length;
    const poolSize = this.handle!.pool.file.poolSize;
    if (length === 0) throw rangeError(seq, ErrorCode.EMPTY_RANGE, 'range length is 0');
    if (length > this.config.maxRangeBytes) {
      throw rangeError(seq, ErrorCode.RANGE_TOO_LARGE, `range of ${length} bytes exceeds the maximum of ${this.config.maxRangeBytes}`);
    }
    if (!Number.isSafeInteger(offset))
      throw rangeError(seq, ErrorCode.OUT_OF_RANGE, `offset above 2^53 - 1 is past the pool's ${poolSize} bytes`);
    if (offset < HEADER_BYTES)
      throw rangeError(seq, ErrorCode.OUT_OF_RANGE, `offset ${offset} is inside the ${HEADER_BYTES}-byte pool header`);
    if (offset + length > poolSize) {
      throw rangeError(seq, ErrorCode.OUT_OF_RANGE, `range [${offset}, ${offset + length}) ends past the pool's ${poolSize} bytes`);
    }
    if (unknownRangeFlags(flags) !== 0) throw rangeError(seq, ErrorCode.INVALID_ARGUMENT, `unknown flags 0x${flags.toString(16)}`);
    if (!Number.isSafeInteger(lsn)) throw rangeError(seq, ErrorCode.INVALID_ARGUMENT, 'lsn above 2^53 - 1');
    if (crc32c(data) !== range.crc32c) throw rangeError(seq, ErrorCode.CHECKSUM, 'CRC32C of the data does not match');
    return { seq, offset, data, lsn, deep: isDeepRange(flags), arrivedNs };
  }

  /**
   * Ends a stream that sent nothing for idle-stream-ms, so a silent client cannot hold a pool
   * forever. A stream whose ranges are still being made durable is not idle: the daemon owes it
   * acks, and a batch that completes restarts the count.
   */
  private armIdleTimer(): void {
    if (this.config.idleStreamMs === 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.writing || this.queue.length > 0) return this.armIdleTimer();
      this.stopIntake(new RpmemError(ErrorCode.TIMEOUT, `stream idle for ${this.config.idleStreamMs} ms (idle-stream-ms)`));
    }, this.config.idleStreamMs);
    this.idleTimer.unref();
  }

  private stopIntake(err: RpmemError): void {
    this.failure ??= err;
    this.call.pause();
    this.pump();
  }

  /** Starts the next durable batch if none is running; ends the stream when nothing is left to do. */
  private pump(): void {
    if (this.writing || this.finished) return;
    if (this.queue.length === 0) {
      if (this.failure !== undefined || this.clientDone) void this.finish();
      return;
    }
    const batch = this.queue;
    this.queue = [];
    const lastSeq = batch[batch.length - 1].seq;
    const bytes = batch.reduce((n, r) => n + r.data.length + RANGE_COST_BYTES, 0);
    const lsn = batch.reduce((max, r) => Math.max(max, r.lsn), 0);
    const file = this.handle!.pool.file;
    this.writing = true;
    const applyStartedNs = process.hrtime.bigint();
    file
      .applyBatch(
        batch,
        BigInt(lastSeq),
        BigInt(lsn),
        batch.some((r) => r.deep),
        this.claim,
      )
      .then(
        () => {
          this.writing = false;
          this.unsyncedBytes -= bytes;
          if (this.failure === undefined) this.armIdleTimer();
          if (!this.cancelled)
            this.call.write({ durableSeq: lastSeq, granularity: file.granularity, durability: toWireDurabilityValue(file.durability) });
          this.metrics?.batchDurable(batch, file, applyStartedNs);
          if (this.failure === undefined && this.unsyncedBytes < this.config.maxInflightBytes) this.call.resume();
          this.pump();
        },
        (err: unknown) => {
          this.writing = false;
          this.queue = [];
          const cause = asRpmemError(err, ErrorCode.IO);
          if (cause.code === ErrorCode.FENCED)
            this.log.info('batch refused: the writer was fenced', { pool: this.handle!.name, err: cause.message });
          else
            this.log.error('durable write failed; pool handle failed', { pool: this.handle!.name, code: cause.code, err: cause.message });
          this.failure = new RpmemError(cause.code, `seq ${batch[0].seq}..${lastSeq} not durable: ${cause.message}`, {
            seq: BigInt(batch[0].seq),
            cause,
          });
          this.pump();
        },
      );
  }

  private async finish(): Promise<void> {
    this.finished = true;
    clearTimeout(this.idleTimer);
    if (this.failure !== undefined && !this.cancelled) {
      const level = this.failure.code === ErrorCode.SHUTDOWN ? 'info' : 'warn';
      this.log[level]('persist stream ended with an error', {
        pool: this.handle?.name,
        code: this.failure.code,
        err: this.failure.message,
      });
      this.metrics?.failed('Persist', this.failure.code);
      this.call.emit('error', toServiceError(this.failure));
    } else if (!this.cancelled) {
      this.call.end();
    }
    if (this.handle !== undefined) await this.registry.release(this.handle);
    this.resolveDone();
  }
}

function rangeError(seq: number, code: ErrorCode, message: string): RpmemError {
  return new RpmemError(code, `seq ${seq}: ${message}`, { seq: BigInt(seq) });
}

/** The error for a message of the wrong kind; a malformed frame says why it could not be parsed. */
function unexpected(msg: DecodedPersistRequest, expected: string): RpmemError {
  const why = msg.kind === 'malformed' ? `malformed PersistRequest (${msg.reason}); ${expected}` : expected;
  return new RpmemError(ErrorCode.INVALID_ARGUMENT, why);
}

function fenced(writer: EpochClaim, held: EpochClaim): RpmemError {
  return new RpmemError(ErrorCode.FENCED, claimRefusal(held, writer) ?? `epoch ${held.epoch} was promised to another primary`);
}
