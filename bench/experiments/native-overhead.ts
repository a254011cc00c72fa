/**
 * Experiment: what the native writer costs beyond the copy and flush themselves, on a prefaulted
 * cache-line mapping in /dev/shm. Per writeBatch of N ranges: the synchronous part on the JS
 * thread (argument checking and planning, and below INLINE_MAX_BYTES the copy/flush/fence too),
 * and the whole call (planning + threadpool hop + copy/flush/fence + promise). Best of several rounds (CPU contention only ever adds).
 * Each shape runs through writeBatch (arrays of offsets and Buffers) and writePacked (one source
 * Buffer and a Float64Array plan) on the same pool ranges.
 *
 *   node dist/bench/experiments/native-overhead.js
 */
import * as fs from 'fs';
import * as path from 'path';
import { PACKED_RANGE_FIELDS, openMapping } from '../../src/storage/native';
import { SHM_DIR, cleanupAll, removeDir, tempDir } from '../cleanup';

const POOL_BYTES = 64 * 1024 * 1024;
const ROUNDS = 7;

/** Bytes before each range in the packed source, like a protobuf field's tag and length. */
const FRAMING_BYTES = 3;

/** Best per-call times over ROUNDS: the synchronous part on the JS thread, and the whole call. */
async function measure(count: number, call: () => Promise<void>): Promise<{ syncNs: number; callNs: number }> {
  let syncNs = Infinity;
  let callNs = Infinity;
  const calls = Math.max(20, Math.floor(20_000 / count));
  for (let r = 0; r < ROUNDS; r++) {
    let sync = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      const p0 = process.hrtime.bigint();
      const p = call();
      sync += Number(process.hrtime.bigint() - p0);
      await p;
    }
    syncNs = Math.min(syncNs, sync / calls);
    callNs = Math.min(callNs, Number(process.hrtime.bigint() - t0) / calls);
  }
  return { syncNs, callNs };
}

function report(label: string, count: number, { syncNs, callNs }: { syncNs: number; callNs: number }): void {
  process.stdout.write(
    `${label}: sync part ${(syncNs / 1000).toFixed(1)} µs (${(syncNs / count).toFixed(0)} ns/range), ` +
      `whole call ${(callNs / 1000).toFixed(1)} µs (${(callNs / count).toFixed(0)} ns/range)\n`,
  );
}

async function main(): Promise<void> {
  const dir = tempDir('native-overhead', SHM_DIR);
  const mapping = openMapping(path.join(dir, 'pool'), { create: true, size: POOL_BYTES + 4096, granularity: 'cache-line' });
  try {
    mapping.buffer().fill(1);
    const trailer = Buffer.alloc(64);
    for (const [size, count] of [
      [64, 16384],
      [64, 256],
      [4096, 256],
      [4096, 1],
      [65536, 16],
      [65536, 1],
    ] as const) {
      const data = Buffer.alloc(size, 7);
      const datas = Array.from({ length: count }, () => data);
      const offs = Array.from(
        { length: count },
        (_, i) => 4096 + ((i * size * 7919) % (POOL_BYTES - size)) - (((i * size * 7919) % (POOL_BYTES - size)) % Math.min(size, 4096)),
      );
      // writePacked on the same pool ranges, cut from one Buffer at odd positions, as from a received message
      const source = Buffer.alloc(count * (size + FRAMING_BYTES), 7);
      const plan = new Float64Array(count * PACKED_RANGE_FIELDS);
      offs.forEach((offset, i) => plan.set([offset, i * (size + FRAMING_BYTES) + FRAMING_BYTES, size], i * PACKED_RANGE_FIELDS));
      const batchTrailer = count === 1 ? null : trailer;
      const shape = `${count} x ${size} B${count === 1 ? ' (no trailer)' : ' + trailer'}`;
      report(`writeBatch  ${shape}`, count, await measure(count, () => mapping.writeBatch(offs, datas, 0, batchTrailer, false)));
      report(`writePacked ${shape}`, count, await measure(count, () => mapping.writePacked(source, plan, 0, batchTrailer, false)));
    }
  } finally {
    await mapping.close();
    removeDir(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => cleanupAll(),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    cleanupAll();
    process.exit(1);
  },
);
