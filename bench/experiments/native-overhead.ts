/**
 * Experiment: what the native writer costs beyond the copy and flush themselves, on a prefaulted
 * cache-line mapping in /dev/shm. Per writeBatch of N ranges: the synchronous part on the JS
 * thread (argument checking and planning, and below INLINE_MAX_BYTES the copy/flush/fence too),
 * and the whole call (planning + threadpool hop + copy/flush/fence + promise). Best of several rounds (CPU contention only ever adds).
 *
 *   node dist/bench/experiments/native-overhead.js
 */
import * as fs from 'fs';
import * as path from 'path';
import { openMapping } from '../../src/common/native';
import { SHM_DIR, cleanupAll, removeDir, tempDir } from '../cleanup';

const POOL_BYTES = 64 * 1024 * 1024;
const ROUNDS = 7;

async function main(): Promise<void> {
  const dir = tempDir('native-overhead', SHM_DIR);
  const mapping = openMapping(path.join(dir, 'pool'), { create: true, size: POOL_BYTES + 4096, granularity: 'cache-line' });
  try {
    mapping.buffer().fill(1);
    const trailer = Buffer.alloc(64);
    for (const [size, count] of [[64, 16384], [64, 256], [4096, 256], [4096, 1], [65536, 16], [65536, 1]] as const) {
      const data = Buffer.alloc(size, 7);
      const datas = Array.from({ length: count }, () => data);
      const offs = Array.from({ length: count }, (_, i) => 4096 + ((i * size * 7919) % (POOL_BYTES - size)) - (((i * size * 7919) % (POOL_BYTES - size)) % Math.min(size, 4096)));
      let planBest = Infinity;
      let callBest = Infinity;
      const calls = Math.max(20, Math.floor(20_000 / count));
      for (let r = 0; r < ROUNDS; r++) {
        let planNs = 0;
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < calls; i++) {
          const p0 = process.hrtime.bigint();
          const p = mapping.writeBatch(offs, datas, 0, count === 1 ? null : trailer, false);
          planNs += Number(process.hrtime.bigint() - p0);
          await p;
        }
        const totalNs = Number(process.hrtime.bigint() - t0);
        planBest = Math.min(planBest, planNs / calls);
        callBest = Math.min(callBest, totalNs / calls);
      }
      process.stdout.write(
        `writeBatch ${count} x ${size} B${count === 1 ? ' (no trailer)' : ' + trailer'}: ` +
          `sync part ${(planBest / 1000).toFixed(1)} µs (${(planBest / count).toFixed(0)} ns/range), ` +
          `whole call ${(callBest / 1000).toFixed(1)} µs (${(callBest / count).toFixed(0)} ns/range)\n`,
      );
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
