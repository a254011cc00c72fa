/**
 * G5's like-for-like pair: the native writer's own batch routine timed in C++ (benchWritePacked,
 * no JS call or thread hop per batch) against libpmem2 doing the same work (lfl_batch in
 * libpmem2/pmem2-bench.c). A batch copies its ranges out of one source laid out like a received
 * message (each range after FRAMING_BYTES), makes them durable, then writes one header slot
 * (SLOT_BYTES, slot 0 and 1 in turn, like rpmemd's header update per batch) and makes it durable
 * after them (I2). Each side does that its own library's way:
 *
 *   cache-line: native: copy + CLWB each range, SFENCE; slot copy + CLWB, SFENCE.
 *               pmem2:  memcpy + flush_fn each range, drain_fn; slot memcpy + persist_fn.
 *   page:       native: pwrite each range, fdatasync; slot pwrite, fdatasync.
 *               pmem2:  memcpy each range, one persist_fn (msync) over the batch's span; slot
 *                       memcpy + persist_fn (msync). pmem2's own flush_fn per range would be one
 *                       msync per range against the native writer's one sync per batch.
 *
 * Both sides cycle through the same pool offsets in the same order (the same generator and seed).
 * The machine is shared, and a sync's latency on its disk swings by 10x within seconds, so each
 * cell runs in ROUNDS slices, the two sides taking turns (ABBA), and sums them: batches over the
 * summed time, latency percentiles over all slices' samples.
 */
import * as crypto from 'crypto';
import * as path from 'path';
import { Granularity, PACKED_RANGE_FIELDS, openMapping, NativePoolMapping } from '../src/storage/native';
import { HEADER_BYTES, SLOT_BYTES } from '../src/storage/pool-header';
import { SHM_DIR, removeDir, tempDir } from './cleanup';
import { BenchConfig } from './config';
import { FRAMING_BYTES, SLOT_STRIDE_BYTES, offsetSeed, packedBatch, prefill } from './local-floor';
import { RandomOffsets } from './offsets';
import { LatencySummary, summarize } from './stats';

/** Slices per cell and side. */
export const ROUNDS = 8;

/**
 * Most offsets a cell cycles through: enough distinct lines (64 MiB of 64 B ranges) that cycling
 * gains little from the cache, few enough that the plan (24 B per range) stays small.
 */
const MAX_CYCLE_RANGES = 1 << 20;

export type SliceKind = 'group' | 'qd1';

/** One side's figures for one range size. */
export interface LikeForLikeSide {
  /** Batches of `groupBytes / size` ranges, back to back. */
  group: {
    batches: number;
    ops: number;
    seconds: number;
    batchesPerSec: number;
    opsPerSec: number;
    bytesPerSec: number;
    rangesPerBatch: number;
  };
  /** Batches of one range, each timed. */
  qd1: { ops: number; seconds: number; opsPerSec: number; latency: LatencySummary };
}

export interface LikeForLikeResult {
  granularity: Granularity;
  rounds: number;
  /** The native side's pool directory and, on cache-line, its flush instruction. */
  nativeDir: string;
  flushInstruction: string;
  sizes: Record<number, { native: LikeForLikeSide; pmem2: LikeForLikeSide }>;
}

/** The libpmem2 side, served by the harness process (bench/libpmem2.ts). */
export interface Pmem2Slices {
  /** Runs one slice of up to `maxBatches` batches or `ms`. */
  slice(kind: SliceKind, size: number, ms: number, maxBatches: number): Promise<{ batches: number; seconds: number }>;
  /** The latency of every qd1 batch since the last call. */
  latency(): Promise<LatencySummary>;
}

/** Offsets per cycle before rounding, the CYCLE_RANGES argument of the C harness: bounded by the cell's op count too. */
export function cycleRangesCap(config: BenchConfig): number {
  return Math.min(MAX_CYCLE_RANGES, config.cellMaxOps);
}

/** Offsets a cell of `perBatch`-range batches cycles through: the cap rounded up to whole pairs of batches (both header slots), as the C harness rounds it. */
function cycleRanges(config: BenchConfig, perBatch: number): number {
  const pair = 2 * perBatch;
  return Math.ceil(cycleRangesCap(config) / pair) * pair;
}

/** Ranges per batch of a group cell. */
function rangesPerBatch(config: BenchConfig, size: number, kind: SliceKind): number {
  return kind === 'qd1' ? 1 : Math.max(1, Math.floor(config.groupBytes / size));
}

/** The native side of one cell: its source, its cycle of offsets as a writePacked plan, and a runner of slices. */
function nativeCell(mapping: NativePoolMapping, config: BenchConfig, size: number, kind: SliceKind, trailer: Buffer) {
  const perBatch = rangesPerBatch(config, size, kind);
  const { source } = packedBatch(crypto.randomBytes(size), perBatch);
  const count = cycleRanges(config, perBatch);
  const offsets = new RandomOffsets(config.poolBytes, size, offsetSeed(size));
  const plan = new Float64Array(count * PACKED_RANGE_FIELDS);
  for (let i = 0; i < count; i++) {
    plan[i * PACKED_RANGE_FIELDS] = HEADER_BYTES + offsets.next();
    plan[i * PACKED_RANGE_FIELDS + 1] = (i % perBatch) * (FRAMING_BYTES + size) + FRAMING_BYTES;
    plan[i * PACKED_RANGE_FIELDS + 2] = size;
  }
  return (ms: number, maxBatches: number, latencies: Float64Array | null): { batches: number; seconds: number } => {
    const { batches, ns } = mapping.benchWritePacked(
      source,
      plan,
      0,
      trailer,
      false,
      perBatch,
      SLOT_STRIDE_BYTES,
      maxBatches,
      ms,
      latencies,
    );
    return { batches, seconds: ns / 1e9 };
  };
}

/** Adds up slices into one side's group figures. */
function groupSide(slices: Array<{ batches: number; seconds: number }>, perBatch: number, size: number): LikeForLikeSide['group'] {
  const batches = slices.reduce((sum, s) => sum + s.batches, 0);
  const seconds = slices.reduce((sum, s) => sum + s.seconds, 0);
  const ops = batches * perBatch;
  return {
    batches,
    ops,
    seconds,
    batchesPerSec: batches / seconds,
    opsPerSec: ops / seconds,
    bytesPerSec: (ops * size) / seconds,
    rangesPerBatch: perBatch,
  };
}

/** Runs one cell on both sides: a warm-up slice each, then ROUNDS slices each in ABBA order. */
async function pairCell(
  mapping: NativePoolMapping,
  pmem2: Pmem2Slices,
  config: BenchConfig,
  size: number,
  kind: SliceKind,
  trailer: Buffer,
): Promise<{
  native: Array<{ batches: number; seconds: number }>;
  pmem2: Array<{ batches: number; seconds: number }>;
  latencies: Float64Array[];
}> {
  const runNative = nativeCell(mapping, config, size, kind, trailer);
  const sliceMs = config.cellMs / ROUNDS;
  // the op cap bounds the latency samples qd1 keeps; group keeps none, and capped at cellMaxOps
  // ranges its 64 B cell ran ~150 ms a side, so its ratio swung 0.6-1.1 between runs
  const maxBatches = kind === 'qd1' ? Math.ceil(config.cellMaxOps / ROUNDS) : Number.MAX_SAFE_INTEGER;
  runNative(config.warmupMs, Number.MAX_SAFE_INTEGER, null);
  await pmem2.slice(kind, size, config.warmupMs, Number.MAX_SAFE_INTEGER);
  if (kind === 'qd1') await pmem2.latency();
  const out = {
    native: [] as Array<{ batches: number; seconds: number }>,
    pmem2: [] as Array<{ batches: number; seconds: number }>,
    latencies: [] as Float64Array[],
  };
  // written through once, so no slice pays first-touch page faults on it (the C side's buffer is warm from its own rows)
  const latencies = kind === 'qd1' ? new Float64Array(maxBatches).fill(1) : null;
  const native = (): void => {
    const s = runNative(sliceMs, maxBatches, latencies);
    out.native.push(s);
    if (latencies !== null) out.latencies.push(latencies.slice(0, s.batches));
  };
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) native();
    out.pmem2.push(await pmem2.slice(kind, size, sliceMs, maxBatches));
    if (round % 2 === 1) native();
  }
  return out;
}

/** Joins the slices' latency samples. */
function joined(parts: Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** The like-for-like pair at one granularity, with `pmem2` serving the libpmem2 side on a pool of its own. */
export async function runLikeForLike(config: BenchConfig, granularity: Granularity, pmem2: Pmem2Slices): Promise<LikeForLikeResult> {
  const dir = tempDir(`lfl-${granularity}`, granularity === 'cache-line' ? SHM_DIR : undefined);
  const mapping = openMapping(path.join(dir, 'lfl.pool'), { create: true, size: config.poolBytes + HEADER_BYTES, granularity });
  try {
    await prefill(mapping, config.poolBytes);
    const trailer = crypto.randomBytes(SLOT_BYTES);
    const sizes: LikeForLikeResult['sizes'] = {};
    for (const size of config.sizes) {
      const perBatch = rangesPerBatch(config, size, 'group');
      const group = await pairCell(mapping, pmem2, config, size, 'group', trailer);
      const qd1 = await pairCell(mapping, pmem2, config, size, 'qd1', trailer);
      const qd1Side = (slices: Array<{ batches: number; seconds: number }>, latency: LatencySummary): LikeForLikeSide['qd1'] => {
        const ops = slices.reduce((sum, s) => sum + s.batches, 0);
        const seconds = slices.reduce((sum, s) => sum + s.seconds, 0);
        return { ops, seconds, opsPerSec: ops / seconds, latency };
      };
      sizes[size] = {
        native: { group: groupSide(group.native, perBatch, size), qd1: qd1Side(qd1.native, summarize(joined(qd1.latencies))) },
        pmem2: { group: groupSide(group.pmem2, perBatch, size), qd1: qd1Side(qd1.pmem2, await pmem2.latency()) },
      };
    }
    return {
      granularity: mapping.granularity,
      rounds: ROUNDS,
      nativeDir: path.dirname(dir),
      flushInstruction: mapping.flushInstruction,
      sizes,
    };
  } finally {
    await mapping.close();
    removeDir(dir);
  }
}
