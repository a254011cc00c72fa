/**
 * Power-loss crash images (emulated): the recording persistence domain records every store,
 * flush, fence and sync of the real native writer, and every image a power loss could leave at
 * each fence or sync point (pmreorder's model, see test/helpers/crash-images.ts) is opened with
 * the project's own code and checked against I1 and I2 (target) and I4 (primary). A bounded
 * seeded pass; `npm run test:crash -- --seed N --images M` runs a longer one.
 */
import { expect } from 'chai';
import { Granularity } from '../src/common/native';
import { CRASH_WORKLOADS, runCrashWorkload } from './helpers/crash-suite';
import { SHM_DIR, tempDir } from './helpers/setup';

const SEED = Number(process.env.RPMEM_CRASH_SEED ?? 13);
const GRANULARITIES: Granularity[] = ['cache-line', 'page'];

describe('power-loss crash images (emulated by the recording persistence domain)', function () {
  this.timeout(120_000);

  for (const workload of CRASH_WORKLOADS) {
    for (const granularity of GRANULARITIES) {
      it(`${workload.name}, ${granularity}: every image opens and holds what its header and the acks claim`, async function () {
        const tally = await runCrashWorkload(workload, granularity, { seed: SEED, dir: tempDir(`crash-${workload.name}`, SHM_DIR), scale: 1 });
        console.log(`      ${workload.name} ${granularity}: ${tally.summary}`);
        expect(tally.failures, tally.failures.join('\n')).to.deep.equal([]);
        expect(tally.crashPoints, 'crash points checked').to.be.at.least(workload.minCrashPoints);
        expect(tally.images, 'images checked').to.be.at.least(2 * workload.minCrashPoints);
      });
    }
  }
});
