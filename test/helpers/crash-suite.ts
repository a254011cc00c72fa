/**
 * The crash workloads, run and checked: shared by test/crash-images.test.ts (a bounded pass) and
 * test/crash-main.ts (`npm run test:crash`, as long as asked).
 */
import { Granularity } from '../../src/storage/native';
import { Rng } from './fuzz-rng';
import { CrashTally } from './crash-check';
import { ImageBudget } from './crash-images';
import { checkDaemonRun, runDaemonWorkload } from './crash-daemon-workload';
import { checkPrimaryRun, runPrimaryWorkload } from './crash-primary-workload';
import { checkTargetRun, runTargetWorkload } from './crash-target-workload';
import { TestTarget } from './test-target';

export interface CrashWorkload {
  name: string;
  /** Ops at scale 1. */
  ops: number;
  /** Fewer crash points than this at scale 1 means the workload did not run what it claims. */
  minCrashPoints: number;
  run(dir: string, granularity: Granularity, ops: number, budget: ImageBudget, rng: Rng): Promise<CrashTally & { detail: string }>;
}

export const CRASH_WORKLOADS: CrashWorkload[] = [
  {
    name: 'target',
    ops: 800,
    minCrashPoints: 1600,
    async run(dir, granularity, ops, budget, rng) {
      const run = await runTargetWorkload(dir, granularity, ops, rng);
      const tally = checkTargetRun(run, dir, budget, rng);
      return { ...tally, detail: `${run.ranges} ranges in ${run.acks.length} header generations` };
    },
  },
  {
    name: 'rpmemd',
    ops: 2000,
    // The daemon decides how many received ranges share a header update, so this floor is loose.
    minCrashPoints: 50,
    async run(dir, granularity, ops, budget, rng) {
      const run = await runDaemonWorkload(dir, granularity, ops, rng);
      const tally = checkDaemonRun(run, dir, budget, rng);
      return { ...tally, detail: `${run.ranges} ranges over gRPC, ${run.acks.length} acked` };
    },
  },
  {
    name: 'primary',
    ops: 400,
    minCrashPoints: 400,
    async run(dir, granularity, ops, budget, rng) {
      const target = await TestTarget.start({ host: '127.0.0.2' });
      let run;
      try {
        run = await runPrimaryWorkload(dir, target, granularity, ops, rng);
      } finally {
        await target.stop();
      }
      const tally = checkPrimaryRun(run, dir, budget, rng);
      if (tally.clearsSeen === 0) tally.failures.push('no dirty-map clear became durable: the workload did not exercise clears');
      if (run.sends.length < ops) tally.failures.push(`only ${run.sends.length} sends observed for ${ops} persists`);
      return {
        ...tally,
        detail: `${run.persists} persists, ${run.sends.length} sends, ${tally.clearsSeen} durable dirty-map clears`,
      };
    },
  },
];

export interface CrashRunOptions {
  seed: number;
  dir: string;
  /** Multiplies each workload's ops. */
  scale: number;
  /** Random-subset images per crash point (besides none, all and the prefixes). Default 4. */
  randomImages?: number;
}

/** Runs one workload at one granularity and checks every image; `summary` is the line to print. */
export async function runCrashWorkload(
  workload: CrashWorkload,
  granularity: Granularity,
  options: CrashRunOptions,
): Promise<CrashTally & { summary: string }> {
  const rng = new Rng(options.seed, granularity === 'page' ? 1 : 0);
  const budget: ImageBudget = { prefixes: 8, randoms: options.randomImages ?? 4 };
  const tally = await workload.run(options.dir, granularity, Math.round(workload.ops * options.scale), budget, rng);
  const summary =
    `seed ${options.seed}: ${tally.crashPoints} crash points, ${tally.images} images checked ` +
    `(${tally.absent} of a pool not yet created), ${tally.failures.length} failing; ${tally.detail}`;
  return { ...tally, summary };
}
