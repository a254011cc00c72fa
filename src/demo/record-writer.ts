/**
 * The demo's workload: appends records to a ReplicatedPool at a steady rate with a bounded number
 * of persists in flight, and reports each record once it is acknowledged. A persist refused with
 * RPMEM_E_QUORUM is retried only after `waitForQuorum()` says the policy can be met again, never
 * at once; RPMEM_E_FENCED (a newer primary, or the lease ran out) ends the writer.
 */
import { RpmemError, ErrorCode, asRpmemError } from '../storage/errors';
import { ReplicatedPool } from '../initiator/replicated-pool';
import { RECORD_BYTES, recordCapacity, recordOffset, writeRecord } from './records';

const MAX_INFLIGHT = 16;
const QUORUM_WAIT_MS = 15_000;
/** How often a record is retried after RPMEM_E_QUORUM before the writer gives up. */
const MAX_QUORUM_RETRIES = 5;

export interface RecordWriterEvents {
  /** Record `n` is durable locally and on the policy's replicas; `at` is Date.now() then. */
  acked(n: number, at: number): void;
  /** A persist was refused for want of replicas; the writer waits for a quorum. */
  waiting(n: number, error: RpmemError): void;
}

export class RecordWriter {
  private next: number;
  private stopping = false;
  private readonly inflight = new Set<Promise<void>>();
  private failure?: RpmemError;
  private loop?: Promise<void>;

  /** Appends from record `first` on, at about `perSecond` records per second. */
  constructor(
    private readonly pool: ReplicatedPool,
    first: number,
    private readonly perSecond: number,
    private readonly events: RecordWriterEvents,
  ) {
    this.next = first;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops issuing, waits for what is in flight; resolves with the next record number, rejects with the error that ended it. */
  async stop(): Promise<number> {
    this.stopping = true;
    await this.loop;
    if (this.failure !== undefined) throw this.failure;
    return this.next;
  }

  /** Resolves when the writer ended by itself (fenced, out of space, no quorum), with the reason. */
  async ended(): Promise<RpmemError | undefined> {
    await this.loop;
    return this.failure;
  }

  private async run(): Promise<void> {
    const capacity = recordCapacity(this.pool.size);
    const intervalMs = 1000 / this.perSecond;
    const started = Date.now();
    let issued = 0;
    while (!this.stopping && this.failure === undefined && this.next <= capacity) {
      if (this.inflight.size >= MAX_INFLIGHT) {
        await Promise.race(this.inflight);
        continue;
      }
      const aheadMs = started + issued * intervalMs - Date.now();
      if (aheadMs > 0) await new Promise((resolve) => setTimeout(resolve, aheadMs));
      const p = this.append(this.next++).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
      issued++;
    }
    await Promise.all(this.inflight);
    if (this.failure === undefined && this.next > capacity && !this.stopping) {
      this.failure = new RpmemError(ErrorCode.LIMIT, `the pool is full (${capacity} records)`);
    }
  }

  private async append(n: number): Promise<void> {
    writeRecord(this.pool.buffer, n, this.pool.epoch);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.pool.persist(recordOffset(n), RECORD_BYTES);
        this.events.acked(n, Date.now());
        return;
      } catch (err) {
        const e = asRpmemError(err);
        if (e.code !== ErrorCode.QUORUM || attempt >= MAX_QUORUM_RETRIES) {
          this.failure ??= e;
          return;
        }
        this.events.waiting(n, e);
        try {
          await this.pool.waitForQuorum({ timeoutMs: QUORUM_WAIT_MS });
        } catch (waitErr) {
          this.failure ??= waitErr instanceof RpmemError ? waitErr : e;
          return;
        }
      }
    }
  }
}
