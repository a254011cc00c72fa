/**
 * A crash-safe append-only log on a ReplicatedPool.
 *
 * Layout of the pool's data area:
 *
 *   [0, 64)    tail slot A  ┐ magic u64 | generation u64 | tail u64 | crc32c u32 over the first 24 bytes
 *   [64, 128)  tail slot B  ┘ updates alternate between the slots, so a torn write loses only itself
 *   [128, …)   records: length u32 | crc32c u32 over (length, payload) | payload | zero pad to 8 bytes
 *
 * An append writes and persists the record first, and only then the new tail: once `append`
 * resolves, both are durable locally and on the replicas the write policy demands, and after any
 * crash the tail never points past a record that is not whole. A record written but not yet
 * covered by the tail was never acknowledged, so recovery ignores it (and the next append
 * overwrites it).
 */
import { ReplicatedPool, RpmemError, ErrorCode, crc32c } from '../../src';

const MAGIC = 0x31474f4c4d454d50n; // "PMEMLOG1" read as little-endian u64
const SLOT_BYTES = 64;
const SLOT_CRC_OFFSET = 24;
const RECORDS_START = 2 * SLOT_BYTES;
const RECORD_HEADER_BYTES = 8;

export interface Recovered {
  /** Every acknowledged record, oldest first. */
  records: Buffer[];
  /** A whole record found just past the tail: written, never acknowledged, ignored. */
  unacknowledged: boolean;
}

export class AppendLog {
  /** Appends run one after the other: each needs the tail the previous one left. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly pool: ReplicatedPool,
    private tail: number,
    private generation: bigint,
  ) {}

  /** Recovers the log in `pool` (or starts an empty one) and returns it with what it holds. */
  static async open(pool: ReplicatedPool): Promise<{ log: AppendLog; recovered: Recovered }> {
    const slot = newestSlot(pool.buffer);
    const log = new AppendLog(pool, slot?.tail ?? RECORDS_START, slot?.generation ?? 0n);
    if (slot === undefined) await log.writeTail(RECORDS_START);
    const records: Buffer[] = [];
    let at = RECORDS_START;
    while (at < log.tail) {
      const record = recordAt(pool.buffer, at, log.tail);
      if (record === undefined)
        throw new RpmemError(ErrorCode.CORRUPT, `log record at offset ${at} is damaged below the durable tail ${log.tail}`);
      records.push(record.payload);
      at = record.next;
    }
    return { log, recovered: { records, unacknowledged: recordAt(pool.buffer, log.tail, pool.size) !== undefined } };
  }

  /** Appends `payload`; resolves once the record and the tail covering it are durable. */
  append(payload: Buffer): Promise<number> {
    const run = this.queue.then(() => this.appendNow(payload));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes and persists the record only, as the first half of an append: for demonstrating what a
   * crash between the two halves leaves behind.
   */
  async writeRecordOnly(payload: Buffer): Promise<void> {
    await this.queue;
    await this.writeRecord(payload);
  }

  private async appendNow(payload: Buffer): Promise<number> {
    const next = await this.writeRecord(payload);
    await this.writeTail(next);
    return next;
  }

  /** Writes the record at the tail and makes it durable; returns the offset after it. */
  private async writeRecord(payload: Buffer): Promise<number> {
    const at = this.tail;
    const bytes = RECORD_HEADER_BYTES + payload.length;
    const next = at + Math.ceil(bytes / 8) * 8;
    if (next > this.pool.size)
      throw new RpmemError(ErrorCode.LIMIT, `log is full: ${this.pool.size - at} bytes left, record needs ${next - at}`);
    const buf = this.pool.buffer;
    buf.writeUInt32LE(payload.length, at);
    payload.copy(buf, at + RECORD_HEADER_BYTES);
    buf.writeUInt32LE(recordCrc(buf, at, payload.length), at + 4);
    buf.fill(0, at + bytes, next);
    await this.pool.persist(at, next - at);
    return next;
  }

  private async writeTail(tail: number): Promise<void> {
    this.generation += 1n;
    const at = Number(this.generation % 2n) * SLOT_BYTES;
    const buf = this.pool.buffer;
    buf.writeBigUInt64LE(MAGIC, at);
    buf.writeBigUInt64LE(this.generation, at + 8);
    buf.writeBigUInt64LE(BigInt(tail), at + 16);
    buf.writeUInt32LE(crc32c(buf.subarray(at, at + SLOT_CRC_OFFSET)), at + SLOT_CRC_OFFSET);
    await this.pool.persist(at, SLOT_BYTES);
    this.tail = tail;
  }
}

function newestSlot(buf: Buffer): { generation: bigint; tail: number } | undefined {
  let newest: { generation: bigint; tail: number } | undefined;
  for (const at of [0, SLOT_BYTES]) {
    if (buf.readBigUInt64LE(at) !== MAGIC) continue;
    if (crc32c(buf.subarray(at, at + SLOT_CRC_OFFSET)) !== buf.readUInt32LE(at + SLOT_CRC_OFFSET)) continue;
    const generation = buf.readBigUInt64LE(at + 8);
    if (newest === undefined || generation > newest.generation) newest = { generation, tail: Number(buf.readBigUInt64LE(at + 16)) };
  }
  return newest;
}

function recordCrc(buf: Buffer, at: number, length: number): number {
  return crc32c(buf.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length), crc32c(buf.subarray(at, at + 4)));
}

/** The whole, checksummed record at `at` ending by `limit`, or undefined. */
function recordAt(buf: Buffer, at: number, limit: number): { payload: Buffer; next: number } | undefined {
  if (at + RECORD_HEADER_BYTES > limit) return undefined;
  const length = buf.readUInt32LE(at);
  const end = at + RECORD_HEADER_BYTES + length;
  if (length === 0 || end > limit || recordCrc(buf, at, length) !== buf.readUInt32LE(at + 4)) return undefined;
  return { payload: Buffer.from(buf.subarray(at + RECORD_HEADER_BYTES, end)), next: at + Math.ceil((end - at) / 8) * 8 };
}
