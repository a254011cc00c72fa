/**
 * Baseline 2, the local durability floor: the native writer alone (openMapping + writePacked, the
 * call rpmemd's persist path is to make, issue #4), no network, on the same ranges as the remote
 * rows. A batch's ranges are cut from one source Buffer laid out like a received message (each
 * range after a few bytes of framing). Each write also makes a header-slot trailer durable after
 * the data, exactly as rpmemd does per batch (data fence, then header fence; or one fdatasync on
 * page). The data area is written once before measuring. Queue depth 1: one range per call,
 * awaited. Group commit: ranges grouped up to `groupBytes` per call, batches back to back (one
 * fence pair or one fdatasync per batch). A QD1 row without the trailer shows the trailer's share.
 * These rows are what a JS caller sees, the promise and the call into the addon included; G5's
 * like-for-like pair times the same writer from C++ (bench/like-for-like.ts).
 */
import * as crypto from 'crypto';
import * as path from 'path';
import { Granularity, NativePoolMapping, PACKED_RANGE_FIELDS, openMapping } from '../src/storage/native';
import { SLOT_BYTES, HEADER_BYTES } from '../src/storage/pool-header';
import { SHM_DIR, removeDir, tempDir } from './cleanup';
import { BenchConfig } from './config';
import { Qd1Result, runQd1 } from './loops';
import { RandomOffsets } from './offsets';

export interface GroupResult {
  ops: number;
  batches: number;
  seconds: number;
  opsPerSec: number;
  bytesPerSec: number;
  rangesPerBatch: number;
}

export interface LocalSizeResult {
  qd1: Qd1Result;
  qd1NoTrailer: Qd1Result;
  group: GroupResult;
}

export interface LocalFloorResult {
  granularity: Granularity;
  dir: string;
  flushInstruction: string;
  isPmem: boolean;
  sizes: Record<number, LocalSizeResult>;
}

/** Where the second header slot starts: consecutive batches alternate slots, as rpmemd's generations do. */
export const SLOT_STRIDE_BYTES = HEADER_BYTES / 2;

/** Bytes before each range in a packed source, like a protobuf field's tag and length. */
export const FRAMING_BYTES = 3;

/** Seed of the random offsets of `size`-byte ranges, here and in libpmem2/pmem2-bench.c. */
export function offsetSeed(size: number): number {
  return 0x1234 + size;
}

/**
 * A source holding `count` copies of `data`, each after FRAMING_BYTES, and a plan whose source
 * starts point at them; the caller fills in the pool offsets (every PACKED_RANGE_FIELDS-th field).
 */
export function packedBatch(data: Buffer, count: number): { source: Buffer; plan: Float64Array } {
  const stride = FRAMING_BYTES + data.length;
  const source = Buffer.alloc(count * stride);
  const plan = new Float64Array(count * PACKED_RANGE_FIELDS);
  for (let i = 0; i < count; i++) {
    data.copy(source, i * stride + FRAMING_BYTES);
    plan[i * PACKED_RANGE_FIELDS + 1] = i * stride + FRAMING_BYTES;
    plan[i * PACKED_RANGE_FIELDS + 2] = data.length;
  }
  return { source, plan };
}

/** Bytes per prefill batch, written as 1 MiB ranges. */
const PREFILL_BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Writes the whole data area once (1 MiB ranges, 16 MiB per batch) so no measured write pays a
 * first-touch page fault or an unwritten-extent conversion; every baseline and the rpmem rows do
 * the same before measuring.
 */
export async function prefill(mapping: NativePoolMapping, poolBytes: number): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let at = 0; at < poolBytes; at += PREFILL_BATCH_BYTES) {
    const offs: number[] = [];
    const datas: Buffer[] = [];
    for (let o = at; o < Math.min(poolBytes, at + PREFILL_BATCH_BYTES); o += chunk.length) {
      offs.push(HEADER_BYTES + o);
      datas.push(o + chunk.length <= poolBytes ? chunk : chunk.subarray(0, poolBytes - o));
    }
    await mapping.writeBatch(offs, datas, 0, null, false);
  }
}

/** Group commit: batches of up to `groupBytes`, written one after another, until a bound. */
async function group(
  mapping: NativePoolMapping,
  data: Buffer,
  offsets: RandomOffsets,
  trailer: Buffer,
  config: BenchConfig,
): Promise<GroupResult> {
  const perBatch = Math.max(1, Math.floor(config.groupBytes / data.length));
  const { source, plan } = packedBatch(data, perBatch);
  let generation = 0;
  const batch = (): Promise<void> => {
    for (let i = 0; i < perBatch; i++) plan[i * PACKED_RANGE_FIELDS] = HEADER_BYTES + offsets.next();
    generation++;
    return mapping.writePacked(source, plan, (generation % 2) * SLOT_STRIDE_BYTES, trailer, false);
  };
  const warmEnd = Date.now() + config.warmupMs;
  while (Date.now() < warmEnd) await batch();
  const maxBatches = Math.ceil(config.cellMaxOps / perBatch);
  const deadline = Date.now() + config.cellMs;
  const started = process.hrtime.bigint();
  let batches = 0;
  while (batches < maxBatches && Date.now() < deadline) {
    await batch();
    batches++;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const ops = batches * perBatch;
  return { ops, batches, seconds, opsPerSec: ops / seconds, bytesPerSec: (ops * data.length) / seconds, rangesPerBatch: perBatch };
}

async function qd1(
  mapping: NativePoolMapping,
  data: Buffer,
  offsets: RandomOffsets,
  trailer: Buffer | null,
  config: BenchConfig,
): Promise<Qd1Result> {
  let generation = 0;
  const { source, plan } = packedBatch(data, 1);
  return runQd1(
    () => {
      plan[0] = HEADER_BYTES + offsets.next();
      generation++;
      return mapping.writePacked(source, plan, (generation % 2) * SLOT_STRIDE_BYTES, trailer, false);
    },
    { maxOps: config.cellMaxOps, maxMs: config.cellMs, warmupOps: 10_000, warmupMs: config.warmupMs },
  );
}

export async function runLocalFloor(config: BenchConfig, granularity: Granularity): Promise<LocalFloorResult> {
  const dir = tempDir(`local-${granularity}`, granularity === 'cache-line' ? SHM_DIR : undefined);
  const mapping = openMapping(path.join(dir, 'floor.pool'), { create: true, size: config.poolBytes + HEADER_BYTES, granularity });
  try {
    await prefill(mapping, config.poolBytes);
    const trailer = crypto.randomBytes(SLOT_BYTES);
    const sizes: Record<number, LocalSizeResult> = {};
    for (const size of config.sizes) {
      const data = crypto.randomBytes(size);
      const offsets = new RandomOffsets(config.poolBytes, size, offsetSeed(size));
      sizes[size] = {
        group: await group(mapping, data, offsets, trailer, config),
        qd1: await qd1(mapping, data, offsets, trailer, config),
        qd1NoTrailer: await qd1(mapping, data, offsets, null, config),
      };
    }
    return {
      granularity: mapping.granularity,
      dir: path.dirname(dir),
      flushInstruction: mapping.flushInstruction,
      isPmem: mapping.isPmem,
      sizes,
    };
  } finally {
    await mapping.close();
    removeDir(dir);
  }
}
