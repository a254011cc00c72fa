/**
 * ReplicatedPersist: the state of one ReplicatedPool.persist, settled by counters rather than by a
 * chain of Promise.all / per-ack wrappers, so each range in flight holds one promise and a few
 * fields. At a pipeline depth of thousands every object a range keeps until its ack survives
 * several scavenges; fewer of them is what makes the replicated path cheap.
 *
 * It resolves once (docs/design.md I4): every awaited part settled — the local persist, each
 * replica's pending dirty mark, a pending LSN reservation — and `required` counted acks arrived.
 * It rejects at the first failed part, or with the owner's quorum error as soon as fewer than
 * `required` counted acks can still arrive.
 */
import type { Granularity } from '../storage/native';
import type { Durability } from '../storage/durability';
import type { RpmemError } from '../storage/errors';
import type { AckSink, Replica } from './replica';

/** One replica's part in a resolved persist. */
export interface ReplicaAck {
  /** The replica, as named in the pool's options. */
  replica: string;
  /** The range's sequence number on the replica's pool. */
  seq: bigint;
  /** How the replica's target flushed it. */
  granularity: Granularity;
  /** What it survives there, as the replica's ack says: `pmem`, `page` or `emulated`. */
  durability: Durability;
}

/** What a resolved replicated persist reports. */
export interface ReplicatedPersistResult {
  /** The persist's log sequence number. */
  lsn: bigint;
  /** How the local copy was made durable. */
  local: Granularity;
  /** What the local copy survives: `pmem`, `page` or `emulated` (see {@link Durability}). */
  localDurability: Durability;
  /** The replicas that had acknowledged it when it resolved. */
  replicas: ReplicaAck[];
  /**
   * When it was acknowledged: `process.hrtime.bigint()` (CLOCK_MONOTONIC, comparable across the
   * processes of one machine) read when its last part settled, just before the pool checked its
   * ack deadline. A coordinated primary acknowledges nothing whose time is at or after that
   * deadline (docs/design.md I8). A pause of the process after that check delays the resolution and
   * the caller's callback, never this time: the decision was taken, and the records were durable
   * on the replicas that acked, before the pause.
   */
  acknowledgedNs: bigint;
}

/** @internal What a persist needs from its pool when it settles. */
export interface PersistOwner {
  /** The local pool's granularity, reported in the result. */
  readonly granularity: Granularity;
  /** The local pool's durability, reported in the result. */
  readonly durability: Durability;
  /** Called once, when the persist of `lsn` settles either way: from then on its range may be stored into. */
  persistSettled(persist: Promise<ReplicatedPersistResult>, lsn: bigint): void;
  /** RPMEM_E_QUORUM: `required` acks were needed, `reachable` sends could count. */
  quorumError(required: number, reachable: number): RpmemError;
  /** RPMEM_E_FENCED when the pool was fenced meanwhile or its lease ran out (I8), else undefined. */
  fencedError(): RpmemError | undefined;
}

function ignore(): void {}

export class ReplicatedPersist implements AckSink {
  readonly promise: Promise<ReplicatedPersistResult>;
  private resolve!: (r: ReplicatedPersistResult) => void;
  private reject!: (e: RpmemError) => void;
  /** Parts (local persist, dirty marks, LSN reservation) not yet settled. */
  private waiting = 0;
  /** Sends whose ack counts toward the policy, and how many of those failed. */
  private reachable = 0;
  private failedAcks = 0;
  private readonly acks: ReplicaAck[] = [];
  private started = false;
  private settled = false;
  // One pair of handlers per persist, shared by every part it waits on.
  private readonly partDone = (): void => {
    this.waiting--;
    this.check();
  };
  private readonly partFailed = (err: RpmemError): void => this.fail(err);

  constructor(
    private readonly owner: PersistOwner,
    readonly lsn: bigint,
    private readonly required: number,
  ) {
    this.promise = new Promise<ReplicatedPersistResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The persist also waits for `part`, and fails with its error. */
  wait(part: Promise<unknown>): void {
    this.waiting++;
    part.then(this.partDone, this.partFailed);
  }

  /** One more send whose ack counts toward the policy (AckSink calls follow). */
  expectAck(): void {
    this.reachable++;
  }

  /** Every part and send is registered: from now on the persist may settle. */
  start(): void {
    this.started = true;
    if (this.reachable - this.failedAcks < this.required) {
      this.fail(this.owner.quorumError(this.required, this.reachable));
      return;
    }
    this.check();
  }

  // AckSink

  acked(replica: Replica, seq: number, granularity: Granularity, durability: Durability): void {
    if (this.settled || this.acks.length >= this.required) return;
    this.acks.push({ replica: replica.spec, seq: BigInt(seq), granularity, durability });
    this.check();
  }

  nacked(): void {
    this.failedAcks++;
    if (this.started && this.reachable - this.failedAcks < this.required && this.acks.length < this.required) {
      this.fail(this.owner.quorumError(this.required, this.reachable));
    }
  }

  /** Rejects with `err` unless already settled. */
  fail(err: RpmemError): void {
    if (this.settled) return;
    this.settled = true;
    this.owner.persistSettled(this.promise, this.lsn);
    this.reject(err);
    // As before this class existed: a persist whose caller dropped the promise never surfaces as an
    // unhandled rejection. Attached at once, so Node never sees it unhandled.
    this.promise.catch(ignore);
  }

  private check(): void {
    if (!this.started || this.settled || this.waiting > 0 || this.acks.length < this.required) return;
    // Read before the deadline check: a pause between the two then fences, never stamps an ack
    // decided before the pause with a time after it (settling below copies held batches: slow).
    const acknowledgedNs = process.hrtime.bigint();
    const fenced = this.owner.fencedError();
    if (fenced !== undefined) return this.fail(fenced);
    this.settled = true;
    this.owner.persistSettled(this.promise, this.lsn);
    this.resolve({
      lsn: this.lsn,
      local: this.owner.granularity,
      localDurability: this.owner.durability,
      replicas: this.acks,
      acknowledgedNs,
    });
  }
}
