/**
 * The initiator's side of one Persist stream: assigns sequence numbers, packs ranges into
 * messages, keeps at most `maxInflightBytes` unacknowledged, and settles each range's promise from
 * the target's cumulative acks.
 *
 * Failure is sticky (docs/design.md I3): when the stream is lost every unacknowledged range rejects —
 * it is never reported as durable — and every later call rejects at once with RPMEM_E_FAILED.
 */
import type * as grpc from '@grpc/grpc-js';
import { RpmemError, ErrorCode } from '../storage/errors';
import { fromServiceError } from '../wire/status';
import { crc32c, Granularity } from '../storage/native';
import type { Durability } from '../storage/durability';
import { PersistAckFrame, PersistRange, encodePersistBatch } from '../wire/persist-codec';
import { OutgoingPersistRequest, PROTOCOL_VERSION } from '../wire/protocol';
import { fromWireDurability, toWireRangeFlags } from '../wire/conversions';
import type { EpochClaim } from '../storage/epoch-claim';
import { NO_CLAIMANT } from '../storage/pool-header';
import type { TargetClient } from './target-client';
import type { SharedBatch, SharedRange } from './shared-batch';

/** What a resolved persist reports. */
export interface PersistResult {
  /** The range's sequence number on its pool. */
  seq: bigint;
  /** How the target made it durable. */
  granularity: Granularity;
  /** What it survives on the target, as the ack says (always the level reported at open). */
  durability: Durability;
}

/**
 * Told how one queued range fared: exactly one of the two, once, synchronously from the ack (or
 * the failure) that settles it. A replicated range is sent to several streams; a sink per send
 * costs one object where a promise and its handlers cost several, and an ack passes its fields
 * rather than a PersistResult, which a sink builds only if it keeps one.
 */
export interface RangeSink {
  acked(seq: number, granularity: Granularity, durability: Durability): void;
  failed(err: RpmemError): void;
}

/** The sink of {@link PersistStream.persist}: settles its promise. */
class PromiseSink implements RangeSink {
  constructor(
    private readonly resolve: (result: PersistResult) => void,
    readonly failed: (err: RpmemError) => void,
  ) {}

  acked(seq: number, granularity: Granularity, durability: Durability): void {
    this.resolve({ seq: BigInt(seq), granularity, durability });
  }
}

/** A range as queued, sent and awaiting its ack: the codec encodes it as it is. */
interface Pending extends PersistRange {
  sink: RangeSink;
  /** False while `data` is a view of memory the caller may store into again once told to ({@link PersistStream.detach}). */
  owned: boolean;
  /** The same range as queued on other streams (a replicated range), whose encoded batch this stream may send too. */
  shared: SharedRange | undefined;
}

export interface PersistStreamOptions {
  /** The writer's epoch claim; undefined for a plain writer. */
  claim: EpochClaim | undefined;
  /** The durability the target reported at Open: an ack that says otherwise fails the stream. */
  durability: Durability;
  maxInflightBytes: number;
  maxMessageBytes: number;
  /** Most ranges in one message: the target refuses a batch of more (max-batch-ranges). */
  maxBatchRanges: number;
  ackTimeoutMs: number;
  /**
   * Send ranges without their seq, the stream's first seq stated in the PersistStart (only to a
   * target whose Open said implied_seq): their messages are then the same on every stream, and a
   * batch another stream encoded is sent as it is (see shared-batch.ts).
   */
  impliedSeq: boolean;
}

export class PersistStream {
  private readonly call: grpc.ClientDuplexStream<OutgoingPersistRequest, PersistAckFrame>;
  private nextSeq: number;
  private lastAcked: number;
  /** The highest seq written to the stream: an ack above it is a protocol error. */
  private sentSeq: number;
  /** Ranges accepted by persist() but not yet written to the stream. */
  private unsent: Pending[] = [];
  /** How many ranges at the front of `unsent` own their data (see detach). */
  private ownedHead = 0;
  /** Ranges written to the stream, awaiting an ack, in seq order. */
  private unacked: Pending[] = [];
  private unackedHead = 0;
  private inflightBytes = 0;
  private blocked = false;
  private flushScheduled = false;
  private ackTimer?: NodeJS.Timeout;
  private failure?: RpmemError;
  private ending = false;
  private ended?: Promise<void>;
  /** drain() callers, in the order of the seq each waits for (the last seq queued when it was called). */
  private drainWaiters: Array<{ seq: number; resolve: () => void; reject: (e: RpmemError) => void }> = [];
  private resolveFailed!: (err: RpmemError) => void;
  /** Settles with the error that failed the stream, whenever that happens (idle or not). */
  readonly failed = new Promise<RpmemError>((resolve) => (this.resolveFailed = resolve));

  constructor(
    client: TargetClient,
    handle: string,
    firstSeq: bigint,
    private readonly options: PersistStreamOptions,
  ) {
    this.nextSeq = Number(firstSeq);
    this.lastAcked = this.nextSeq - 1;
    this.sentSeq = this.lastAcked;
    this.call = client.persist();
    this.call.on('data', (ack: PersistAckFrame) => this.onAck(ack));
    this.call.on('error', (err: unknown) => this.fail(fromServiceError(err)));
    this.call.on('status', (status: grpc.StatusObject) => {
      if (status.code === 0 && !this.ending) {
        this.fail(new RpmemError(ErrorCode.UNAVAILABLE, 'target ended the Persist stream unexpectedly'));
      }
    });
    this.call.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
    const { epoch, claimant } = options.claim ?? { epoch: 0n, claimant: NO_CLAIMANT };
    const start = { protocolVersion: PROTOCOL_VERSION, handle, epoch, claimant, firstSeq: options.impliedSeq ? this.nextSeq : 0 };
    this.call.write({ kind: 'start', start });
  }

  /** The error that failed this stream, if any. */
  get error(): RpmemError | undefined {
    return this.failure;
  }

  /** The highest sequence number acknowledged so far. */
  get durableSeq(): bigint {
    return BigInt(this.lastAcked);
  }

  /**
   * Queues `data` for `offset` (a file offset); resolves once the target acked it as durable.
   * `lsn` is the replication log sequence number (0 for none); `crc` the data's CRC32C when the
   * caller already has it (a replicated range is sent to several streams). `data` is read when the
   * range is written to the stream, which may be after the caller's own promise settles: a caller
   * that lets its application store into the memory again first calls {@link detach}.
   */
  persist(offset: number, data: Buffer, deep: boolean, lsn = 0n, crc = crc32c(data)): Promise<PersistResult> {
    return new Promise<PersistResult>((resolve, reject) => this.enqueue(offset, data, deep, lsn, crc, new PromiseSink(resolve, reject)));
  }

  /**
   * Like {@link persist}, telling `sink` instead of settling a promise; a refusal reaches the sink in
   * a microtask. `shared` is set for a range queued on several streams with the same offset, data,
   * flags, LSN and CRC (a replicated range): a batch of such ranges is encoded once for all of them.
   */
  enqueue(offset: number, data: Buffer, deep: boolean, lsn: bigint, crc: number, sink: RangeSink, shared?: SharedRange): void {
    const refused =
      this.failure !== undefined ? this.stickyError() : this.ending ? new RpmemError(ErrorCode.CLOSED, 'pool is closing') : undefined;
    if (refused !== undefined) {
      queueMicrotask(() => sink.failed(refused));
      return;
    }
    const seq = this.nextSeq++;
    if (shared !== undefined) shared.unsent++;
    this.unsent.push({ seq, offset, data, crc32c: crc, flags: toWireRangeFlags(deep), lsn: Number(lsn), sink, owned: false, shared });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Idle (nothing awaits an ack): send at the end of the caller's synchronous burst, as a
      // queue-depth-1 writer wants. Busy: wait a turn of the event loop, so the ranges issued
      // while acks are being handled share one message.
      if (this.unackedHead === this.unacked.length) queueMicrotask(this.scheduledFlush);
      else setImmediate(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /**
   * Resolves when every range queued so far is acknowledged; rejects if the stream fails first.
   * Ranges queued after the call are not waited for, so a caller can drain a stream that never
   * goes idle (a resync while persists keep flowing).
   */
  drain(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.stickyError());
    const seq = this.nextSeq - 1;
    if (this.lastAcked >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ seq, resolve, reject }));
  }

  /** Refuses further persists, drains, half-closes the stream, and resolves when the target ended it cleanly. */
  end(): Promise<void> {
    this.ending = true;
    this.ended ??= this.drain().then(
      () =>
        new Promise<void>((resolve, reject) => {
          this.call.once('status', (status: grpc.StatusObject) => (status.code === 0 ? resolve() : reject(fromServiceError(status))));
          this.call.end();
        }),
    );
    return this.ended;
  }

  /**
   * Copies the data of every range not yet written to the stream whose LSN is at most `lsn`, so
   * the caller may store into that memory again while the ranges wait (behind a full window or a
   * slow target): the target still receives the bytes the ranges held when persist was called
   * (docs/design.md I7). Ranges in LSN order make this amortized O(1) per range.
   */
  detach(lsn: number): void {
    let i = this.ownedHead;
    for (; i < this.unsent.length && this.unsent[i].lsn <= lsn; i++) {
      const p = this.unsent[i];
      // LSN 0 marks resync copies and plain writes, whose callers never hand their memory back.
      if (!p.owned && p.lsn !== 0) {
        p.data = Buffer.from(p.data);
        p.owned = true;
        // Its persist settled: a batch encoded by another stream is no longer kept for this one,
        // which encodes its own from the copy (what it holds stays bounded by what is unsettled).
        if (p.shared !== undefined) p.shared.batch = undefined;
      }
    }
    this.ownedHead = i;
  }

  /** Abandons the stream: unacknowledged ranges reject with `reason`. */
  cancel(reason: RpmemError): void {
    this.fail(reason);
    this.call.cancel();
  }

  private flush(): void {
    while (!this.blocked && this.failure === undefined && this.unsent.length > 0) {
      const shared = this.sharedBatch();
      if (shared !== undefined) {
        if (this.inflightBytes > 0 && this.inflightBytes + shared.dataBytes > this.options.maxInflightBytes) return;
        this.write(shared.members.length, shared.dataBytes, shared.message);
        continue;
      }
      const first = this.unsent[0];
      if (this.inflightBytes > 0 && this.inflightBytes + first.data.length > this.options.maxInflightBytes) return;
      let count = 0;
      let messageBytes = 0;
      for (const p of this.unsent) {
        const bytes = p.data.length;
        const fitsMessage = count === 0 || (messageBytes + bytes <= this.options.maxMessageBytes && count < this.options.maxBatchRanges);
        const inflight = this.inflightBytes + messageBytes;
        const fitsWindow = inflight === 0 || inflight + bytes <= this.options.maxInflightBytes;
        // A batch another stream encoded starts here: end this one before it, so the next message
        // can be that one rather than every later boundary differing from the other streams'.
        if (!fitsMessage || !fitsWindow || (count > 0 && p.shared?.batch !== undefined)) break;
        count++;
        messageBytes += bytes;
      }
      const ranges = count === this.unsent.length ? this.unsent : this.unsent.slice(0, count);
      // Encoded now, not when grpc-js's writable buffer gets to it: from here on the stream holds
      // its own copy of the bytes, and the ranges' views may be reused (see detach).
      const message = encodePersistBatch(ranges, !this.options.impliedSeq);
      if (this.options.impliedSeq) this.offer(ranges, messageBytes, message);
      this.write(count, messageBytes, message);
    }
  }

  /**
   * The batch another stream encoded whose members are exactly this stream's next ranges, and that
   * this stream's own limits allow; undefined when there is none (this stream encodes its own).
   * The member check is what stands, on this side, for the per-range seq check the target no longer
   * makes on a stream of implied seqs (docs/design.md I3): the message says nothing of which seqs it
   * carries, so it must carry exactly the ranges this stream moves to unacked, in their order.
   */
  private sharedBatch(): SharedBatch | undefined {
    if (!this.options.impliedSeq) return undefined;
    const batch = this.unsent[0].shared?.batch;
    if (batch === undefined) return undefined;
    const n = batch.members.length;
    if (n > this.unsent.length || n > this.options.maxBatchRanges || (n > 1 && batch.dataBytes > this.options.maxMessageBytes))
      return undefined;
    for (let i = 0; i < n; i++) if (this.unsent[i].shared !== batch.members[i]) return undefined;
    return batch;
  }

  /**
   * Leaves `message` on its first range for the other streams the ranges are queued on: when every
   * one of them is shared, none is there yet, and another stream has the first range still to send.
   */
  private offer(ranges: readonly Pending[], dataBytes: number, message: Buffer): void {
    const first = ranges[0].shared;
    // unsent counts this stream too: below 2 no other stream is left to send the first range.
    if (first === undefined || first.batch !== undefined || first.unsent < 2) return;
    const members: SharedRange[] = [];
    for (const p of ranges) {
      if (p.shared === undefined) return;
      members.push(p.shared);
    }
    first.batch = { members, message, dataBytes };
  }

  /** Moves the first `count` unsent ranges (`dataBytes` of data) to unacked and writes `message`, which carries exactly them. */
  private write(count: number, dataBytes: number, message: Buffer): void {
    for (let i = 0; i < count; i++) {
      const p = this.unsent[i];
      if (p.shared !== undefined) p.shared.sent();
      this.unacked.push(p);
    }
    this.sentSeq = this.unsent[count - 1].seq;
    this.inflightBytes += dataBytes;
    if (count === this.unsent.length) this.unsent = [];
    else this.unsent.splice(0, count);
    this.ownedHead = Math.max(0, this.ownedHead - count);
    this.armAckTimer();
    if (!this.call.write(message)) this.blocked = true;
  }

  private onAck(ack: PersistAckFrame): void {
    const durable = ack.durableSeq;
    const granularity = ack.granularity ?? 'page';
    const durability = this.ackDurability(ack);
    if (durability === undefined) return;
    if (durable > this.sentSeq) {
      // The target counted ranges this stream never sent (with implied seqs, nothing else would tell).
      this.cancel(new RpmemError(ErrorCode.PROTOCOL, `the target acked seq ${durable}, but the highest seq sent is ${this.sentSeq}`));
      return;
    }
    if (durable > this.lastAcked) this.lastAcked = durable;
    while (this.unackedHead < this.unacked.length && this.unacked[this.unackedHead].seq <= durable) {
      const p = this.unacked[this.unackedHead++];
      this.inflightBytes -= p.data.length;
      p.sink.acked(p.seq, granularity, durability);
    }
    if (this.unackedHead > 1024 && this.unackedHead * 2 > this.unacked.length) {
      this.unacked = this.unacked.slice(this.unackedHead);
      this.unackedHead = 0;
    }
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.armAckTimer();
    this.flush();
    let done = 0;
    while (done < this.drainWaiters.length && this.drainWaiters[done].seq <= this.lastAcked) this.drainWaiters[done++].resolve();
    if (done > 0) this.drainWaiters.splice(0, done);
  }

  /**
   * The ack's durability, held to the one reported at Open (a mapping's never changes; docs/design.md
   * I9): an undeclared value or a different level cancels the stream with RPMEM_E_PROTOCOL, so the
   * ranges it covers reject rather than resolve with a claim nobody checked.
   */
  private ackDurability(ack: PersistAckFrame): Durability | undefined {
    try {
      const durability = fromWireDurability('PersistAck.durability', ack.durability);
      if (durability === this.options.durability) return durability;
      throw new RpmemError(
        ErrorCode.PROTOCOL,
        `the target reported ${this.options.durability} durability at open and ${durability} in the ack of seq ${ack.durableSeq}`,
      );
    } catch (err) {
      this.cancel(err as RpmemError);
      return undefined;
    }
  }

  private armAckTimer(): void {
    if (this.ackTimer !== undefined || this.unackedHead === this.unacked.length) return;
    this.ackTimer = setTimeout(() => {
      this.cancel(new RpmemError(ErrorCode.TIMEOUT, `no ack within ${this.options.ackTimeoutMs} ms; target presumed lost`));
    }, this.options.ackTimeoutMs);
    this.ackTimer.unref();
  }

  private fail(err: RpmemError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.resolveFailed(err);
    clearTimeout(this.ackTimer);
    // Never to be sent here: a batch kept for this stream need not be kept any more.
    for (const p of this.unsent) p.shared?.sent();
    const lost = [...this.unacked.slice(this.unackedHead), ...this.unsent];
    this.unacked = [];
    this.unackedHead = 0;
    this.unsent = [];
    this.ownedHead = 0;
    const failedSeq = err.seq === undefined ? undefined : Number(err.seq);
    for (const p of lost) {
      if (failedSeq === p.seq) {
        p.sink.failed(err);
      } else {
        const code = err.seq === undefined ? err.code : ErrorCode.FAILED;
        p.sink.failed(new RpmemError(code, `seq ${p.seq} not acknowledged: ${err.message}`, { seq: BigInt(p.seq), cause: err }));
      }
    }
    for (const w of this.drainWaiters.splice(0)) w.reject(this.stickyError());
  }

  private stickyError(): RpmemError {
    const cause = this.failure!;
    return new RpmemError(ErrorCode.FAILED, `pool handle failed earlier (${cause.code}: ${cause.message}); reopen it`, { cause });
  }
}
