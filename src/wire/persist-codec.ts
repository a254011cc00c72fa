/**
 * The Persist stream's wire codec, used by both ends instead of proto-loader's generic one: the
 * bytes are plain proto/rpmem.proto (PersistRequest, PersistAck), so a stock protobuf peer still
 * interoperates, but nothing passes through proto-loader's objects or decimal-string uint64s.
 *
 * Decoding builds one plain record per range with `data` as a view of the received message (no
 * copy) and uint64s as numbers. A uint64 above Number.MAX_SAFE_INTEGER decodes to an inexact number
 * (never a safe integer), so the session's range checks refuse it with their usual codes. A frame
 * that is not valid protobuf decodes to `{ kind: 'malformed' }` instead of throwing: grpc-js would
 * turn a throw into a bare INTERNAL status, while the session can end the stream with a stable code
 * after acking what it received before.
 *
 * Each decoded range costs a few hundred bytes of heap (its record and its Buffer view) on top of
 * its data, so a message of a million one-byte ranges would cost hundreds of MB and half a second
 * of decoding. A decoder given `maxRanges` first counts a batch's ranges without allocating and,
 * past the limit, decodes none of them (`{ kind: 'too-many-ranges' }`).
 */
import { Long, Reader, Writer } from 'protobufjs';
import type { Granularity } from '../storage/native';
import { toWireGranularityValue, fromWireGranularity } from './conversions';

/** One range as it travels in a PersistBatch (the proto's Range message). */
export interface PersistRange {
  seq: number;
  /** Pool-file offset. */
  offset: number;
  data: Buffer;
  crc32c: number;
  /** Bit set of RangeFlag. */
  flags: number;
  /** Replication LSN; 0 for none. */
  lsn: number;
}

/** The first message of a Persist stream (the proto's PersistStart). */
export interface PersistStart {
  protocolVersion: number;
  handle: string;
  /** Fencing epoch; kept exact (it is compared with the pool header's). */
  epoch: bigint;
  /** Who claims the epoch: 16 bytes, or empty for none. */
  claimant: Buffer;
  /**
   * The seq of the stream's first range when its ranges leave their seq out (implied, numbered by
   * the target in arrival order); 0 or absent when every range carries its own. Inexact above 2^53 - 1.
   */
  firstSeq?: number;
}

/** A PersistRequest as the initiator sends it. */
export type PersistRequestFrame = { kind: 'start'; start: PersistStart } | { kind: 'batch'; ranges: readonly PersistRange[] };

/** A PersistRequest as the target receives it: also an empty one (no oneof member set) or bytes that are no valid message. */
export type DecodedPersistRequest =
  | PersistRequestFrame
  | { kind: 'empty' }
  | { kind: 'malformed'; reason: string }
  /** A batch with more than `limit` ranges: refused before any of them was decoded. */
  | { kind: 'too-many-ranges'; limit: number };

/**
 * A cumulative PersistAck; `granularity` is undefined for UNSPECIFIED or values this build does not
 * know. `durability` is the proto Durability number as sent (0 = UNSPECIFIED), undeclared values
 * included: conversions.ts's fromWireDurability judges it, so a bad one fails the stream with a stable
 * code rather than as a parse error.
 */
export interface PersistAckFrame {
  durableSeq: number;
  granularity: Granularity | undefined;
  durability: number;
}

// Field tags: (field number << 3) | wire type, wire type 0 = varint, 2 = length-delimited.
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const tag = (field: number, wireType: number): number => (field << 3) | wireType;

const REQUEST_START = tag(1, LENGTH_DELIMITED);
const REQUEST_BATCH = tag(2, LENGTH_DELIMITED);
const START_PROTOCOL_VERSION = tag(1, VARINT);
const START_HANDLE = tag(2, LENGTH_DELIMITED);
const START_EPOCH = tag(3, VARINT);
const START_CLAIMANT = tag(4, LENGTH_DELIMITED);
const START_FIRST_SEQ = tag(5, VARINT);
const BATCH_RANGE = tag(1, LENGTH_DELIMITED);
const RANGE_SEQ = tag(1, VARINT);
const RANGE_OFFSET = tag(2, VARINT);
const RANGE_DATA = tag(3, LENGTH_DELIMITED);
const RANGE_CRC32C = tag(4, VARINT);
const RANGE_FLAGS = tag(5, VARINT);
const RANGE_LSN = tag(6, VARINT);
const ACK_DURABLE_SEQ = tag(1, VARINT);
const ACK_GRANULARITY = tag(2, VARINT);
const ACK_DURABILITY = tag(3, VARINT);

const NO_DATA = Buffer.alloc(0);

/** Serializes a PersistRequest; proto3 defaults (zeros, empty data) are left out as a stock encoder does. */
export function encodePersistRequest(frame: PersistRequestFrame): Buffer {
  if (frame.kind === 'batch') return encodePersistBatch(frame.ranges, true);
  const w = Writer.create();
  w.uint32(REQUEST_START).fork();
  writeStart(w, frame.start);
  return w.ldelim().finish() as Buffer;
}

/**
 * A PersistRequest carrying `ranges` as one PersistBatch, written straight into one buffer of its
 * exact size: the hot path of every Persist stream, so no protobufjs Writer (its per-field
 * operations and fork/ldelim states cost a dozen objects per range) and one copy of each range's
 * data. Same bytes as the Writer would produce. Without `seqs` every range leaves its seq out (a
 * stream whose PersistStart stated first_seq): the bytes then do not depend on the stream.
 */
export function encodePersistBatch(ranges: readonly PersistRange[], seqs: boolean): Buffer {
  let batchBytes = 0;
  for (const r of ranges) {
    const n = rangeBytes(r, seqs);
    batchBytes += 1 + varintBytes(n) + n;
  }
  const out = Buffer.allocUnsafe(1 + varintBytes(batchBytes) + batchBytes);
  out[0] = REQUEST_BATCH;
  let pos = writeVarint(out, 1, batchBytes);
  for (const r of ranges) {
    out[pos++] = BATCH_RANGE;
    pos = writeVarint(out, pos, rangeBytes(r, seqs));
    if (seqs && r.seq !== 0) pos = writeVarint(out, writeTag(out, pos, RANGE_SEQ), r.seq);
    if (r.offset !== 0) pos = writeVarint(out, writeTag(out, pos, RANGE_OFFSET), r.offset);
    if (r.data.length !== 0) {
      pos = writeVarint(out, writeTag(out, pos, RANGE_DATA), r.data.length);
      pos += r.data.copy(out, pos);
    }
    if (r.crc32c !== 0) pos = writeVarint(out, writeTag(out, pos, RANGE_CRC32C), r.crc32c >>> 0);
    if (r.flags !== 0) pos = writeVarint(out, writeTag(out, pos, RANGE_FLAGS), r.flags >>> 0);
    if (r.lsn !== 0) pos = writeVarint(out, writeTag(out, pos, RANGE_LSN), r.lsn);
  }
  return out;
}

/** Encoded bytes of one Range message's fields (its own tag and length not included). */
function rangeBytes(r: PersistRange, seqs: boolean): number {
  let n = 0;
  if (seqs && r.seq !== 0) n += 1 + varintBytes(r.seq);
  if (r.offset !== 0) n += 1 + varintBytes(r.offset);
  if (r.data.length !== 0) n += 1 + varintBytes(r.data.length) + r.data.length;
  if (r.crc32c !== 0) n += 1 + varintBytes(r.crc32c >>> 0);
  if (r.flags !== 0) n += 1 + varintBytes(r.flags >>> 0);
  if (r.lsn !== 0) n += 1 + varintBytes(r.lsn);
  return n;
}

/** Every Range tag fits one byte (field numbers below 16). */
function writeTag(out: Buffer, pos: number, t: number): number {
  out[pos] = t;
  return pos + 1;
}

/** Bytes of the varint of a non-negative integer up to 2^53 - 1. */
function varintBytes(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes a non-negative integer up to 2^53 - 1 as a varint at `pos`; returns the position after it. */
function writeVarint(out: Buffer, pos: number, v: number): number {
  while (v >= 128) {
    out[pos++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}

function writeStart(w: Writer, s: PersistStart): void {
  if (s.protocolVersion !== 0) w.uint32(START_PROTOCOL_VERSION).uint32(s.protocolVersion);
  if (s.handle !== '') w.uint32(START_HANDLE).string(s.handle);
  if (s.epoch !== 0n) w.uint32(START_EPOCH).uint64(s.epoch.toString());
  if (s.claimant.length !== 0) w.uint32(START_CLAIMANT).bytes(s.claimant);
  if (s.firstSeq !== undefined && s.firstSeq !== 0) w.uint32(START_FIRST_SEQ).uint64(s.firstSeq);
}

/** Parses a PersistRequest; never throws (see the module comment). At most `maxRanges` ranges are decoded. */
export function decodePersistRequest(buf: Buffer, maxRanges = Infinity): DecodedPersistRequest {
  try {
    return readRequest(Reader.create(buf), maxRanges);
  } catch (err) {
    return { kind: 'malformed', reason: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Fields may come in any order and unknown ones are skipped. As protobuf merges repeated
 * occurrences of a message field, a second `batch` appends its ranges and a second `start` updates
 * the first; the last oneof member seen wins.
 */
function readRequest(r: Reader, maxRanges: number): DecodedPersistRequest {
  let frame: DecodedPersistRequest = { kind: 'empty' };
  let counted = 0;
  while (r.pos < r.len) {
    const t = r.uint32();
    if (t === REQUEST_START) {
      const start: PersistStart =
        frame.kind === 'start' ? frame.start : { protocolVersion: 0, handle: '', epoch: 0n, claimant: NO_DATA, firstSeq: 0 };
      frame = { kind: 'start', start: readStart(r, r.uint32() + r.pos, start) };
    } else if (t === REQUEST_BATCH) {
      const end = r.uint32() + r.pos;
      counted += countRanges(r.buf, r.pos, Math.min(end, r.len), maxRanges - counted + 1);
      if (counted > maxRanges) return { kind: 'too-many-ranges', limit: maxRanges };
      const ranges: PersistRange[] = frame.kind === 'batch' ? (frame.ranges as PersistRange[]) : [];
      frame = { kind: 'batch', ranges: readBatch(r, end, ranges) };
    } else {
      r.skipType(t & 7);
    }
  }
  return frame;
}

function readStart(r: Reader, end: number, s: PersistStart): PersistStart {
  while (r.pos < end) {
    const t = r.uint32();
    if (t === START_PROTOCOL_VERSION) s.protocolVersion = r.uint32();
    else if (t === START_HANDLE) s.handle = r.string();
    else if (t === START_EPOCH) s.epoch = BigInt(r.uint64().toString());
    else if (t === START_CLAIMANT) s.claimant = Buffer.from(r.bytes());
    else if (t === START_FIRST_SEQ) s.firstSeq = uint64Number(r.uint64());
    else r.skipType(t & 7);
  }
  return atEnd(r, end, s);
}

function readBatch(r: Reader, end: number, ranges: PersistRange[]): PersistRange[] {
  while (r.pos < end) {
    const t = r.uint32();
    if (t === BATCH_RANGE) ranges.push(readRange(r, r.uint32() + r.pos));
    else r.skipType(t & 7);
  }
  return atEnd(r, end, ranges);
}

/** Counts the ranges of the batch in `buf[start, end)`, skipping their contents, up to `stopAt`; a framing error is left for readBatch to report. */
function countRanges(buf: Uint8Array, start: number, end: number, stopAt: number): number {
  if (stopAt === Infinity) return 0;
  const r = Reader.create(buf);
  r.pos = start;
  r.len = end;
  let n = 0;
  try {
    while (r.pos < end && n < stopAt) {
      const t = r.uint32();
      if (t === BATCH_RANGE) n++;
      r.skipType(t & 7);
    }
  } catch {
    // Truncated: readBatch decodes up to the same point and reports it as malformed.
  }
  return n;
}

function readRange(r: Reader, end: number): PersistRange {
  const range: PersistRange = { seq: 0, offset: 0, data: NO_DATA, crc32c: 0, flags: 0, lsn: 0 };
  while (r.pos < end) {
    const t = r.uint32();
    if (t === RANGE_SEQ) range.seq = uint64Number(r.uint64());
    else if (t === RANGE_OFFSET) range.offset = uint64Number(r.uint64());
    else if (t === RANGE_DATA) range.data = r.bytes() as Buffer;
    else if (t === RANGE_CRC32C) range.crc32c = r.uint32();
    else if (t === RANGE_FLAGS) range.flags = r.uint32();
    else if (t === RANGE_LSN) range.lsn = uint64Number(r.uint64());
    else r.skipType(t & 7);
  }
  return atEnd(r, end, range);
}

/** A uint64 as a number: exact up to Number.MAX_SAFE_INTEGER, inexact (and so never a safe integer) above. */
function uint64Number(v: Long): number {
  return (v.high >>> 0) * 2 ** 32 + (v.low >>> 0);
}

/** A nested message whose last field runs past its declared length is malformed, not merely long. */
function atEnd<T>(r: Reader, end: number, value: T): T {
  if (r.pos !== end || end > r.len) throw new Error(`nested message overruns its length at offset ${r.pos}`);
  return value;
}

/** Serializes a PersistAck. */
export function encodePersistAck(ack: PersistAckFrame): Buffer {
  const w = Writer.create();
  if (ack.durableSeq !== 0) w.uint32(ACK_DURABLE_SEQ).uint64(ack.durableSeq);
  if (ack.granularity !== undefined) w.uint32(ACK_GRANULARITY).int32(toWireGranularityValue(ack.granularity));
  if (ack.durability !== 0) w.uint32(ACK_DURABILITY).int32(ack.durability);
  return w.finish() as Buffer;
}

/** Parses a PersistAck; throws on bytes that are no valid message (grpc-js then fails the call with INTERNAL). */
export function decodePersistAck(buf: Buffer): PersistAckFrame {
  const r = Reader.create(buf);
  const ack: PersistAckFrame = { durableSeq: 0, granularity: undefined, durability: 0 };
  while (r.pos < r.len) {
    const t = r.uint32();
    if (t === ACK_DURABLE_SEQ) ack.durableSeq = uint64Number(r.uint64());
    else if (t === ACK_GRANULARITY) ack.granularity = fromWireGranularity(r.int32());
    else if (t === ACK_DURABILITY) ack.durability = r.int32();
    else r.skipType(t & 7);
  }
  return ack;
}
