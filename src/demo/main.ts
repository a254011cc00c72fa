/**
 * The embedded demo behind `npm start`: a local rpmemd per granularity, a pool replicated to it,
 * a few thousand random ranges persisted and read back, 4 KiB throughput, and a summary.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RemotePool } from '../initiator/remote-pool';
import { DaemonProcess } from '../target/daemon-process';

const POOL_BYTES = 64 * 1024 * 1024;
const RANDOM_RANGES = 3000;
const MAX_RANDOM_RANGE_BYTES = 64 * 1024;
const THROUGHPUT_RANGES = 20_000;
const THROUGHPUT_RANGE_BYTES = 4096;

interface Row {
  granularity: string;
  poolDir: string;
  ranges: number;
  bytes: number;
  verified: boolean;
  rangesPerSec: number;
  mbPerSec: number;
}

function randomInt(max: number): number {
  return crypto.randomInt(max);
}

/** Persists random ranges while mirroring them locally, then reads the pool back and compares. */
async function randomRoundTrip(pool: RemotePool): Promise<{ bytes: number; verified: boolean }> {
  const mirror = Buffer.alloc(pool.size);
  const persists: Promise<unknown>[] = [];
  let bytes = 0;
  for (let i = 0; i < RANDOM_RANGES; i++) {
    const length = 1 + randomInt(MAX_RANDOM_RANGE_BYTES);
    const offset = randomInt(pool.size - length);
    const data = crypto.randomBytes(length);
    data.copy(mirror, offset);
    persists.push(pool.persist(offset, data));
    bytes += length;
  }
  await Promise.all(persists);
  const back = await pool.read(0, pool.size);
  return { bytes, verified: back.equals(mirror) };
}

/** Pipelined 4 KiB persists at random aligned offsets; returns ranges/s. */
async function throughput(pool: RemotePool): Promise<number> {
  const data = crypto.randomBytes(THROUGHPUT_RANGE_BYTES);
  const slots = pool.size / THROUGHPUT_RANGE_BYTES;
  const started = process.hrtime.bigint();
  const persists: Promise<unknown>[] = [];
  for (let i = 0; i < THROUGHPUT_RANGES; i++) persists.push(pool.persist(randomInt(slots) * THROUGHPUT_RANGE_BYTES, data));
  await Promise.all(persists);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return THROUGHPUT_RANGES / seconds;
}

async function runOne(granularity: 'cache-line' | 'page', baseDir: string): Promise<Row> {
  const poolDir = fs.mkdtempSync(path.join(baseDir, 'rpmem-demo-'));
  const daemon = await DaemonProcess.start({ poolDir, granularity });
  try {
    const pool = await RemotePool.create(daemon.address, 'demo', { size: POOL_BYTES });
    try {
      const { bytes, verified } = await randomRoundTrip(pool);
      const rangesPerSec = await throughput(pool);
      return {
        granularity: pool.granularity,
        poolDir,
        ranges: RANDOM_RANGES + THROUGHPUT_RANGES,
        bytes: bytes + THROUGHPUT_RANGES * THROUGHPUT_RANGE_BYTES,
        verified,
        rangesPerSec,
        mbPerSec: (rangesPerSec * THROUGHPUT_RANGE_BYTES) / 1e6,
      };
    } finally {
      await pool.close();
    }
  } finally {
    await daemon.stop();
    fs.rmSync(poolDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const shm = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  console.log('rpmem demo: starting a local rpmemd for each granularity...');
  const rows = [await runOne('cache-line', shm), await runOne('page', os.tmpdir())];
  console.log('');
  console.log('granularity  pool dir          ranges   bytes        read-back  4 KiB ranges/s  4 KiB MB/s');
  for (const r of rows) {
    console.log(
      [
        r.granularity.padEnd(11),
        path.dirname(r.poolDir).padEnd(16),
        String(r.ranges).padStart(7),
        String(r.bytes).padStart(12),
        (r.verified ? 'identical' : 'DIFFERENT').padEnd(9),
        r.rangesPerSec.toFixed(0).padStart(15),
        r.mbPerSec.toFixed(1).padStart(11),
      ].join('  '),
    );
  }
  console.log('');
  console.log('Every range was acknowledged only after it was durable in the target\'s pool file.');
  if (rows.some((r) => !r.verified)) throw new Error('read-back differs from what was persisted');
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  console.error(`rpmem demo failed: ${e.code ? e.code + ': ' : ''}${e.message ?? String(err)}`);
  process.exit(1);
});
