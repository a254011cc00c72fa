/**
 * The pool header: the first HEADER_BYTES of a pool file, two alternating slots.
 *
 * Each update goes to the slot the previous one did not use, with a generation one higher and a
 * CRC32C over the slot; a reader takes the valid slot with the higher generation. A torn write
 * therefore loses at most the update in flight (docs/design.md I2).
 */
import { RpmemError, ErrorCode } from './errors';
import { crc32c } from './native';
import { PoolAttr, POOL_ATTR_BYTES, encodeAttr, decodeAttr } from './pool-attr';

/** Bytes at the start of every pool file reserved for its header; writes below this are refused. */
export const HEADER_BYTES = 4096;

const MAGIC = Buffer.from('RPMEMPL\0', 'latin1');
/** Version 2 added the epoch's claimant and the history epoch; version 1 slots are still read. */
const FORMAT_VERSION = 2;
const SLOT_STRIDE_BYTES = HEADER_BYTES / 2;

// Slot layout (little endian): magic[8] version:u32 headerBytes:u32 generation:u64 poolSize:u64
// poolUuid[16] durableSeq:u64 epoch:u64 lsn:u64 syncState:u32 attr[POOL_ATTR_BYTES]
// claimant[16] historyEpoch:u64 crc32c:u32 (over everything before it). Version 1 ends the slot
// with the crc right after attr.
const OFF_VERSION = 8;
const OFF_HEADER_BYTES = 12;
const OFF_GENERATION = 16;
const OFF_POOL_SIZE = 24;
const OFF_POOL_UUID = 32;
const OFF_DURABLE_SEQ = 48;
const OFF_EPOCH = 56;
const OFF_LSN = 64;
const OFF_SYNC_STATE = 72;
const OFF_ATTR = 76;
const OFF_CLAIMANT = OFF_ATTR + POOL_ATTR_BYTES;
const OFF_HISTORY_EPOCH = OFF_CLAIMANT + 16;
const OFF_CRC = OFF_HISTORY_EPOCH + 8;
const OFF_CRC_V1 = OFF_CLAIMANT;

/** Bytes of an epoch claimant: the random id a promoter (or a pool's first primary) claims an epoch under. */
export const CLAIMANT_BYTES = 16;

/** The claimant of a pool whose epoch nobody has claimed yet (a new pool, or a version 1 header). */
export const NO_CLAIMANT: Buffer = Buffer.alloc(CLAIMANT_BYTES);

/** Bytes one encoded slot occupies. */
export const SLOT_BYTES = OFF_CRC + 4;

export type SyncState = 'clean' | 'syncing';

const SYNC_STATE_CODE: Record<SyncState, number> = { clean: 0, syncing: 1 };

/** The decoded contents of the newest valid header slot. */
export interface PoolHeader {
  /** Incremented on every header update; selects the slot. */
  generation: bigint;
  /** File size in bytes, header included. */
  poolSize: number;
  poolUuid: Buffer;
  /** Highest sequence number whose ranges are durable in the data area. */
  durableSeq: bigint;
  /** Fencing epoch: the highest epoch this pool promised (docs/design.md I5). */
  epoch: bigint;
  /** Who the epoch was promised to; NO_CLAIMANT while unclaimed. */
  claimant: Buffer;
  /**
   * The epoch of the writer whose history this copy holds: of the last range applied with an LSN,
   * or of the primary that last marked it clean. Promotion compares (historyEpoch, lsn) (I6).
   */
  historyEpoch: bigint;
  /** Highest replication LSN of that history applied here. */
  lsn: bigint;
  /** A replica being resynced is `syncing` and must not be promoted. */
  syncState: SyncState;
  attr: PoolAttr;
}

/** File offset of the slot that holds `generation`. */
export function slotOffset(generation: bigint): number {
  return Number(generation % 2n) * SLOT_STRIDE_BYTES;
}

/** Encodes `header` as one slot image, to be written at `slotOffset(header.generation)`. */
export function encodeHeader(header: PoolHeader): Buffer {
  const buf = Buffer.alloc(SLOT_BYTES);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(FORMAT_VERSION, OFF_VERSION);
  buf.writeUInt32LE(HEADER_BYTES, OFF_HEADER_BYTES);
  buf.writeBigUInt64LE(header.generation, OFF_GENERATION);
  buf.writeBigUInt64LE(BigInt(header.poolSize), OFF_POOL_SIZE);
  header.poolUuid.copy(buf, OFF_POOL_UUID, 0, 16);
  buf.writeBigUInt64LE(header.durableSeq, OFF_DURABLE_SEQ);
  buf.writeBigUInt64LE(header.epoch, OFF_EPOCH);
  buf.writeBigUInt64LE(header.lsn, OFF_LSN);
  buf.writeUInt32LE(SYNC_STATE_CODE[header.syncState], OFF_SYNC_STATE);
  encodeAttr(header.attr, buf, OFF_ATTR);
  header.claimant.copy(buf, OFF_CLAIMANT, 0, CLAIMANT_BYTES);
  buf.writeBigUInt64LE(header.historyEpoch, OFF_HISTORY_EPOCH);
  buf.writeUInt32LE(crc32c(buf.subarray(0, OFF_CRC)), OFF_CRC);
  return buf;
}

function decodeSlot(slot: Buffer): PoolHeader | undefined {
  if (!slot.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const version = slot.readUInt32LE(OFF_VERSION);
  if (version !== FORMAT_VERSION && version !== 1) return undefined;
  const crcAt = version === 1 ? OFF_CRC_V1 : OFF_CRC;
  if (slot.readUInt32LE(crcAt) !== crc32c(slot.subarray(0, crcAt))) return undefined;
  if (slot.readUInt32LE(OFF_HEADER_BYTES) !== HEADER_BYTES) return undefined;
  const syncCode = slot.readUInt32LE(OFF_SYNC_STATE);
  if (syncCode > 1) return undefined;
  return {
    generation: slot.readBigUInt64LE(OFF_GENERATION),
    poolSize: Number(slot.readBigUInt64LE(OFF_POOL_SIZE)),
    poolUuid: Buffer.from(slot.subarray(OFF_POOL_UUID, OFF_POOL_UUID + 16)),
    durableSeq: slot.readBigUInt64LE(OFF_DURABLE_SEQ),
    epoch: slot.readBigUInt64LE(OFF_EPOCH),
    claimant: version === 1 ? NO_CLAIMANT : Buffer.from(slot.subarray(OFF_CLAIMANT, OFF_CLAIMANT + CLAIMANT_BYTES)),
    historyEpoch: version === 1 ? 0n : slot.readBigUInt64LE(OFF_HISTORY_EPOCH),
    lsn: slot.readBigUInt64LE(OFF_LSN),
    syncState: syncCode === 1 ? 'syncing' : 'clean',
    attr: decodeAttr(slot, OFF_ATTR),
  };
}

/**
 * Decodes the newest valid slot of a header image (the first HEADER_BYTES of a pool file).
 * Throws RPMEM_E_CORRUPT when neither slot is valid or the recorded size disagrees with the file.
 */
export function decodeHeader(image: Buffer, fileSize: number, what: string): PoolHeader {
  let newest: PoolHeader | undefined;
  for (const at of [0, SLOT_STRIDE_BYTES]) {
    const h = decodeSlot(image.subarray(at, at + SLOT_BYTES));
    // A slot holding a generation that belongs in the other slot was not written by us: ignore it.
    if (h === undefined || slotOffset(h.generation) !== at) continue;
    if (newest === undefined || h.generation > newest.generation) newest = h;
  }
  if (newest === undefined) throw new RpmemError(ErrorCode.CORRUPT, `${what}: no valid pool header`);
  if (newest.poolSize !== fileSize) {
    throw new RpmemError(ErrorCode.CORRUPT, `${what}: header says ${newest.poolSize} bytes, file has ${fileSize}`);
  }
  return newest;
}
