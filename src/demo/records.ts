/**
 * The demo's records: fixed-size, self-checking slots appended in order, so that what survived a
 * failover can be checked by reading the pool back, independently of what any writer reports.
 *
 * Record n (n >= 1) lives at offset (n - 1) × RECORD_BYTES:
 *   magic u32 | crc32c of bytes 8..63 u32 | n u64 | writer epoch u64 | 40 bytes derived from n
 */
import * as crypto from 'crypto';
import { crc32c } from '../storage/native';

export const RECORD_BYTES = 64;
const MAGIC = 0x524d5244; // "RMRD"
const BODY_OFFSET = 8;
const PAYLOAD_OFFSET = 24;

function payload(n: number): Buffer {
  const digest = crypto.createHash('sha256').update(`rpmem-demo-record-${n}`).digest();
  return Buffer.concat([digest, digest.subarray(0, RECORD_BYTES - PAYLOAD_OFFSET - digest.length)]);
}

export function recordOffset(n: number): number {
  return (n - 1) * RECORD_BYTES;
}

/** How many records a data area of `bytes` holds. */
export function recordCapacity(bytes: number): number {
  return Math.floor(bytes / RECORD_BYTES);
}

/** Stores record `n`, written by the primary of `epoch`, into `area` (not yet durable). */
export function writeRecord(area: Buffer, n: number, epoch: bigint): void {
  const at = recordOffset(n);
  const slot = area.subarray(at, at + RECORD_BYTES);
  slot.writeUInt32LE(MAGIC, 0);
  slot.writeBigUInt64LE(BigInt(n), BODY_OFFSET);
  slot.writeBigUInt64LE(epoch, BODY_OFFSET + 8);
  payload(n).copy(slot, PAYLOAD_OFFSET);
  slot.writeUInt32LE(crc32c(slot.subarray(BODY_OFFSET)), 4);
}

/** True when slot `n` of `area` holds record `n`, whole and unaltered, and (when given) as the primary of `epoch` wrote it. */
export function recordIntact(area: Buffer, n: number, epoch?: bigint): boolean {
  const at = recordOffset(n);
  if (at + RECORD_BYTES > area.length) return false;
  const slot = area.subarray(at, at + RECORD_BYTES);
  return (
    slot.readUInt32LE(0) === MAGIC &&
    slot.readUInt32LE(4) === crc32c(slot.subarray(BODY_OFFSET)) &&
    slot.readBigUInt64LE(BODY_OFFSET) === BigInt(n) &&
    (epoch === undefined || slot.readBigUInt64LE(BODY_OFFSET + 8) === epoch) &&
    slot.subarray(PAYLOAD_OFFSET).equals(payload(n))
  );
}

/** The highest record number present in `area` (0 when none): where a new primary continues. */
export function lastRecord(area: Buffer): number {
  for (let n = recordCapacity(area.length); n >= 1; n--) if (recordIntact(area, n)) return n;
  return 0;
}
