/**
 * Power-loss crash images (emulated): the recording persistence domain records every store,
 * flush, fence and sync of the real native writer, and every image a power loss could leave at
 * each fence or sync point (pmreorder's model, see test/helpers/crash-images.ts) is opened with
 * the project's own code and checked against I1 and I2 (target) and I4 (primary). A bounded
 * seeded pass; `npm run test:crash -- --seed N --images M` runs a longer one.
 */
import { expect } from 'chai';
import * as path from 'path';
import { Granularity, openMapping } from '../src/storage/native';
import { takeRecording } from './helpers/crash-recording';
import { Rng } from './helpers/fuzz-rng';
import { CRASH_WORKLOADS, runCrashWorkload } from './helpers/crash-suite';
import { loadTargetRun } from './helpers/crash-regression';
import { checkTargetRun, runTargetWorkload } from './helpers/crash-target-workload';
import { SHM_DIR, tempDir } from './helpers/setup';

const REGRESSIONS = path.join(__dirname, '..', '..', 'test', 'crash-regressions');
/** Seed and batches the page regression recording was made with (by the code before the fix). */
const PAGE_REGRESSION = { file: 'page-one-fdatasync.json', seed: 13, batches: 6 };

const SEED = Number(process.env.RPMEM_CRASH_SEED ?? 13);
const GRANULARITIES: Granularity[] = ['cache-line', 'page'];

describe('power-loss crash images (emulated by the recording persistence domain)', function () {
  this.timeout(120_000);

  for (const workload of CRASH_WORKLOADS) {
    for (const granularity of GRANULARITIES) {
      it(`${workload.name}, ${granularity}: every image opens and holds what its header and the acks claim`, async function () {
        const tally = await runCrashWorkload(workload, granularity, {
          seed: SEED,
          dir: tempDir(`crash-${workload.name}`, SHM_DIR),
          scale: 1,
        });
        console.log(`      ${workload.name} ${granularity}: ${tally.summary}`);
        expect(tally.failures, tally.failures.join('\n')).to.deep.equal([]);
        expect(tally.crashPoints, 'crash points checked').to.be.at.least(workload.minCrashPoints);
        expect(tally.images, 'images checked').to.be.at.least(2 * workload.minCrashPoints);
      });
    }
  }

  describe('the recording persistence domain', function () {
    const kindsOf = async (granularity: Granularity): Promise<string[]> => {
      const file = path.join(tempDir('crash-recording', SHM_DIR), 'pool');
      const mapping = openMapping(file, { create: true, size: 16384, granularity, record: true });
      await mapping.writeBatch([4096, 8060], [Buffer.alloc(100, 1), Buffer.alloc(8, 2)], 0, Buffer.alloc(64, 3), false);
      await mapping.close();
      const recording = takeRecording(file, mapping);
      expect(
        recording.events.every((e, i) => i === 0 || e.order > recording.events[i - 1].order),
        'events in order',
      ).to.equal(true);
      return recording.events.map((e) => `${e.kind}@${e.offset}+${e.length}`);
    };

    it('records a cache-line writeBatch as production runs it: data stored and flushed, fence, header stored and flushed, fence', async function () {
      expect(await kindsOf('cache-line')).to.deep.equal([
        'snapshot@0+16384',
        'store@4096+100',
        'flush@4096+128',
        'store@8060+8',
        'flush@8000+128',
        'fence@0+0',
        'store@0+64',
        'flush@0+64',
        'fence@0+0',
      ]);
    });

    it('records a page writeBatch: data pwritten, fdatasync, header pwritten, fdatasync', async function () {
      expect(await kindsOf('page')).to.deep.equal([
        'snapshot@0+16384',
        'pwrite@4096+100',
        'pwrite@8060+8',
        'fdatasync@0+0',
        'pwrite@0+64',
        'fdatasync@0+0',
      ]);
    });
  });

  describe('regression recordings', function () {
    it('page, one fdatasync for data and header: the recording of the old code still fails I2, the same ops now pass', async function () {
      const dir = tempDir('crash-regression', SHM_DIR);
      const budget = { prefixes: 8, randoms: 4 };
      const old = checkTargetRun(loadTargetRun(path.join(REGRESSIONS, PAGE_REGRESSION.file)), dir, budget, new Rng(PAGE_REGRESSION.seed));
      expect(old.failures.length, 'failing images of the old recording').to.be.greaterThan(0);
      expect(
        old.failures.every((f) => f.includes('ahead of its data (I2)')),
        old.failures.join('\n'),
      ).to.equal(true);

      const now = await runTargetWorkload(dir, 'page', PAGE_REGRESSION.batches, new Rng(PAGE_REGRESSION.seed, 1));
      const tally = checkTargetRun(now, dir, budget, new Rng(PAGE_REGRESSION.seed));
      expect(tally.failures, tally.failures.join('\n')).to.deep.equal([]);
      expect(tally.crashPoints, 'two fdatasyncs per batch now').to.be.greaterThan(old.crashPoints);
    });
  });
});
