/**
 * `npm run test:crash -- --seed N --images M [--scale S]`: the crash-image pass of
 * test/crash-images.test.ts, longer — M random-subset images per crash point (default 16) and
 * S times the ops (default 4). Prints crash points and images per workload and granularity;
 * exits 1 on any failing image.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Granularity } from '../src/storage/native';
import { parseSeed } from './helpers/fuzz-rng';
import { CRASH_WORKLOADS, runCrashWorkload } from './helpers/crash-suite';
import { SHM_BASE } from './helpers/tmp-dirs';
import { stopAllTargets } from './helpers/test-target';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

async function main(): Promise<number> {
  const seed = parseSeed(option('seed', String(Date.now() % 1_000_000)));
  const randomImages = Number(option('images', '16'));
  const scale = Number(option('scale', '4'));
  if (!Number.isSafeInteger(randomImages) || randomImages < 0 || !(scale > 0))
    throw new Error('--images must be a non-negative integer and --scale positive');
  const dir = fs.mkdtempSync(path.join(SHM_BASE, 'rpmem-crash-'));
  let failing = 0;
  try {
    for (const workload of CRASH_WORKLOADS) {
      for (const granularity of ['cache-line', 'page'] as Granularity[]) {
        const tally = await runCrashWorkload(workload, granularity, { seed, dir, scale, randomImages });
        console.log(`${workload.name} ${granularity}: ${tally.summary}`);
        for (const f of tally.failures) console.log(`  FAIL ${f}`);
        failing += tally.failures.length;
      }
    }
  } finally {
    await stopAllTargets();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(failing === 0 ? `seed ${seed}: no failing image` : `seed ${seed}: ${failing} failing (rerun with --seed ${seed})`);
  return failing === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
