/**
 * Loader and types for the native writer (native/, built by node-gyp into build/Release/rpmem_native.node,
 * or prebuilt into prebuilds/<platform>-<arch>/ by `npm pack`).
 *
 * Native errors leave C++ as plain Error objects carrying `{code, errno}`; {@link wrapNative} turns
 * them into RpmemError so nothing above this file sees a raw native error.
 */
import * as path from 'path';
import nodeGypBuild = require('node-gyp-build');
import { RpmemError, ErrorCode } from './errors';

/** How a mapping makes stores durable. */
export type Granularity = 'cache-line' | 'page';

/** Requested granularity: `auto` picks cache-line for a DAX (MAP_SYNC) mapping, page otherwise. */
export type GranularityRequest = 'auto' | Granularity;

/** Which cache-flush instruction a cache-line mapping uses (chosen once by CPUID). */
export type FlushInstruction = 'clwb' | 'clflushopt' | 'clflush';

export interface MappingOptions {
  /** Create the file (O_EXCL) and size it to `size` bytes with posix_fallocate. */
  create?: boolean;
  /** File size in bytes when creating; ignored when opening. */
  size?: number;
  /** Granularity to use; `cache-line` on a non-DAX mapping emulates pmem. Default `auto`. */
  granularity?: GranularityRequest;
  /** Open and map read-only (PROT_READ, shared flock); writes are refused. */
  readOnly?: boolean;
  /**
   * Test mode: run the persist routines in the recording persistence domain, which records every
   * store, flush, fence and sync in order (see {@link NativePoolMapping.takeRecording}). Default false.
   */
  record?: boolean;
}

/**
 * Events recorded by a mapping opened with `record`: five numbers per event in `fields` (process-wide
 * order, kind, file offset, length, start of its bytes in `data`). Kinds, as native/recording.h
 * numbers them: 0 snapshot of the file at open, 1 store, 2 cache-line flush, 3 fence, 4 pwrite,
 * 5 fdatasync, 6 msync.
 */
export interface NativeRecording {
  fields: Float64Array;
  data: Buffer;
}

/**
 * One mapped pool file, locked with flock (exclusive for read-write, shared for read-only).
 * Offsets are file offsets.
 */
export interface NativePoolMapping {
  readonly path: string;
  readonly size: number;
  readonly granularity: Granularity;
  /** True when MAP_SYNC succeeded (a real DAX mapping). */
  readonly isPmem: boolean;
  readonly flushInstruction: FlushInstruction;
  readonly readOnly: boolean;
  /** True after a flush/sync call failed (that call rejects RPMEM_E_IO); every later write or persist rejects RPMEM_E_FAILED. */
  readonly failed: boolean;

  /**
   * Copies each `datas[i]` to `offsets[i]` and makes all of them durable (cache-line: flush every
   * touched line, one SFENCE; page: pwrite then fdatasync). Then, only if `trailerData` is
   * given, writes it at `trailerOffset` and makes it durable too, strictly after the data
   * (a second fence on cache-line, a second fdatasync on page: the kernel writes dirty pages back
   * in any order). `deep` additionally msyncs the touched pages on cache-line.
   * Runs off the event loop, except a cache-line batch (not deep) of fewer than
   * {@link INLINE_MAX_BYTES} bytes in total, which is written on the calling thread and returns an
   * already settled promise. Either way errors reject, and the Buffers must stay unchanged until
   * the promise settles.
   */
  writeBatch(offsets: number[], datas: Buffer[], trailerOffset: number, trailerData: Buffer | null, deep: boolean): Promise<void>;

  /**
   * {@link writeBatch} with every range cut from one Buffer: range i copies `plan[3i+2]` bytes
   * from `source` at `plan[3i+1]` to pool offset `plan[3i]` (see {@link PACKED_RANGE_FIELDS}).
   * Use it where the ranges already sit in one Buffer (the target's received message): it checks
   * every range in one crossing into native code with no per-range JS value to read (256 x 64 B on
   * /dev/shm: 14 ns per range for the whole call against writeBatch's 148, measured by
   * bench/experiments/native-overhead.ts). A Float64Array because JS fills it
   * from plain numbers in a few ns per range (a BigUint64Array needs a BigInt per field, ~10x
   * slower), and pool offsets need more than 32 bits.
   *
   * Ranges may sit anywhere in `source`, overlap in it, and overlap in the pool (later ranges win).
   * Each field must be a safe non-negative integer and each length positive; every range must lie
   * inside both `source` and the pool. Checks, error codes, the trailer, `deep`, durability and
   * where the call runs (inline below {@link INLINE_MAX_BYTES} on cache-line, else a worker) are
   * exactly writeBatch's. `plan` is copied before the call returns, so it may be reused at once;
   * `source` and `trailerData` must stay unchanged until the promise settles.
   */
  writePacked(source: Buffer, plan: Float64Array, trailerOffset: number, trailerData: Buffer | null, deep: boolean): Promise<void>;

  /**
   * Makes `[offset, offset+length)` durable when it was written through {@link buffer}. Off the
   * event loop, except on cache-line (not deep) below {@link INLINE_MAX_BYTES}, as for writeBatch.
   */
  persist(offset: number, length: number, deep: boolean): Promise<void>;

  /** Returns a copy of `[offset, offset+length)`. */
  read(offset: number, length: number): Buffer;

  /**
   * A Buffer view of the whole mapping (zero copy). After close() the view stays safe to touch but
   * is detached from the file (backed by anonymous memory) until it is garbage collected.
   */
  buffer(): Buffer;

  /** Waits for in-flight work, then unmaps and unlocks. Idempotent. Later calls reject with RPMEM_E_CLOSED. */
  close(): Promise<void>;

  /** Test seam: the next flush/sync call fails with `errno` as if the kernel had returned it. */
  failNextSync(errno: number): void;

  /** Test mode: the events recorded since the last call (throws unless opened with `record`); works after close(). */
  takeRecording(): NativeRecording;

  /**
   * Bench only (bench/local-floor.ts), not part of rpmem's API: times the writer's own batch
   * routine (the one {@link writePacked} runs, inline or on its worker) from C++, on the calling
   * thread, so a comparison with libpmem2's C loop measures the writer and not the JS call. The
   * first five arguments are checked as writePacked checks them; the plan's ranges are then cut
   * into batches of `rangesPerBatch`, run in turn (cycling) until `maxBatches` or `maxMs`. Batch k
   * writes the trailer at `trailerOffset + (k % 2) * trailerStride`, alternating like the two
   * header slots. Batch i's nanoseconds go to `latencies[i]` when given. Throws on a failure.
   */
  benchWritePacked(
    source: Buffer,
    plan: Float64Array,
    trailerOffset: number,
    trailerData: Buffer | null,
    deep: boolean,
    rangesPerBatch: number,
    trailerStride: number,
    maxBatches: number,
    maxMs: number,
    latencies: Float64Array | null,
  ): { batches: number; ns: number };
}

interface NativeModule {
  PoolMapping: {
    new (path: string, options: MappingOptions): NativePoolMapping;
    readonly inlineMaxBytes: number;
    readonly packedRangeFields: number;
  };
  crc32c(data: Buffer, initial?: number): number;
  cpuFeatures(): { clwb: boolean; clflushopt: boolean; sse42: boolean };
  recordingMark(): number;
}

/** The package root, where node-gyp-build looks for build/Release and prebuilds/<platform>-<arch>. */
const PACKAGE_ROOT = path.join(__dirname, '..', '..', '..');

function load(): NativeModule {
  try {
    // A local build (build/Release, from `npm ci` or `npm run build:native`) wins over the prebuilt
    // binary the package ships for its platform (prebuilds/, made by `npm pack`).
    return nodeGypBuild(PACKAGE_ROOT) as NativeModule;
  } catch (err) {
    const reason = (err as Error).message;
    throw new RpmemError(
      ErrorCode.INTERNAL,
      `rpmem native addon not loadable from ${PACKAGE_ROOT} (${reason}); build it with "npm run build:native" (as a dependency: allow its install script, "npm install-scripts approve rpmem")`,
    );
  }
}

const native = load();

/**
 * Cache-line writeBatch and persist calls (not deep) of fewer bytes than this run on the calling
 * thread: the copy and flush cost less than a threadpool hop (measured in native/pool_mapping.h).
 */
export const INLINE_MAX_BYTES = native.PoolMapping.inlineMaxBytes;

/**
 * Numbers per range in a {@link NativePoolMapping.writePacked} plan: pool offset, source start,
 * length, in that order.
 */
export const PACKED_RANGE_FIELDS = native.PoolMapping.packedRangeFields;

/** Converts an error thrown or rejected by the addon into an RpmemError. */
export function wrapNative(err: unknown): RpmemError {
  if (err instanceof RpmemError) return err;
  const e = err as Error & { code?: string; errno?: number };
  const code = typeof e.code === 'string' && e.code.startsWith('RPMEM_E_') ? (e.code as ErrorCode) : ErrorCode.INTERNAL;
  return new RpmemError(code, e.message, { errno: e.errno === 0 ? undefined : e.errno });
}

/** A mapping opened while {@link recordEveryMapping} was on. */
export interface RecordedMapping {
  /** The path it was opened at (a pool being created has its hidden temporary name). */
  path: string;
  mapping: NativePoolMapping;
}

let recorded: RecordedMapping[] | undefined;

/**
 * Test seam for the crash-image harness: while on, every writable mapping this process opens is
 * opened with `record` and listed, so a workload run through the project's own classes (PoolFile,
 * Pool, DirtyMap, ReplicatedPool) leaves recordings of every pool file it wrote. Returns the list,
 * which keeps growing until {@link stopRecordingEveryMapping}.
 */
export function recordEveryMapping(): RecordedMapping[] {
  recorded = [];
  return recorded;
}

/** Turns {@link recordEveryMapping} off; later mappings are opened as the caller asked. */
export function stopRecordingEveryMapping(): void {
  recorded = undefined;
}

/** A number in the process-wide order of recorded events: places a JS step (an ack, a send) between them. */
export function recordingMark(): number {
  return native.recordingMark();
}

/** Opens or creates a pool file mapping. Throws RpmemError. */
export function openMapping(file: string, options: MappingOptions): NativePoolMapping {
  const record = recorded !== undefined && options.readOnly !== true;
  let mapping: NativePoolMapping;
  try {
    mapping = new native.PoolMapping(file, record ? { ...options, record: true } : options);
  } catch (err) {
    throw wrapNative(err);
  }
  if (record) recorded?.push({ path: file, mapping });
  return mapping;
}

/** CRC32C (Castagnoli) of `data`, continuing from `initial` (default 0). SSE4.2 where present. */
export function crc32c(data: Buffer, initial = 0): number {
  return native.crc32c(data, initial);
}

/** Which flush and CRC instructions this CPU offers. */
export function cpuFeatures(): { clwb: boolean; clflushopt: boolean; sse42: boolean } {
  return native.cpuFeatures();
}
