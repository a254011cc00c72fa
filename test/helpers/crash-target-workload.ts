/**
 * The target's crash workload: a pool file driven through PoolFile — the storage code rpmemd runs
 * for every Create, Persist batch, claim and SetSyncState — with the recording domain on, then
 * every crash image of the recording checked against what the workload wrote and was acknowledged.
 *
 * Ops: the create; batches of 1-6 overlapping word-stamped ranges (several ranges cut from one
 * Buffer, as a decoded Persist message is, so they go through writePacked), some deep, some with
 * the writer's claim and an LSN, some issued together as a group commit riding the header chain;
 * an epoch claim by a new claimant; SetSyncState syncing then clean; a setAttr. Each op's header
 * generation is its writer id in the stamps, so an image whose header says generation g must hold,
 * in every word, the last write of a generation <= g or a later one (I2), and g must be at least
 * the generation last acknowledged before the crash (I1).
 */
import * as path from 'path';
import { expect } from 'chai';
import { EpochClaim } from '../../src/storage/epoch-claim';
import { Granularity, recordEveryMapping, recordingMark, stopRecordingEveryMapping } from '../../src/storage/native';
import { normalizeAttr } from '../../src/storage/pool-attr';
import { FileRange, PoolFile } from '../../src/storage/pool-file';
import { PoolHeader, decodeHeader, HEADER_BYTES } from '../../src/storage/pool-header';
import { Rng } from './fuzz-rng';
import { CrashTally, checkRecording, headerDifference, openImage, scratchFile } from './crash-check';
import { ImageBudget } from './crash-images';
import { Recording, takeRecording } from './crash-recording';
import { WORD_BYTES, WordFloor, stampWords } from './crash-stamps';

/** Data bytes of the workload's pool: small, so ranges overlap often and images are cheap to check. */
const DATA_BYTES = 64 * 1024;
const MAX_RANGES_PER_BATCH = 6;
const MAX_GROUP_COMMIT = 4;

export interface TargetRun {
  recording: Recording;
  /** The header each generation wrote, as read back when its op resolved. */
  headers: Map<bigint, PoolHeader>;
  /** (generation, mark) per acknowledged op, in ack order. */
  acks: Array<{ generation: number; order: number }>;
  /** Every generation's words; acknowledged as the check walks the crash points. */
  floor: WordFloor;
  ranges: number;
}

/** Runs the workload in `dir` with about `batches` batches; returns its recording and model. */
export async function runTargetWorkload(dir: string, granularity: Granularity, batches: number, rng: Rng): Promise<TargetRun> {
  const poolBytes = HEADER_BYTES + DATA_BYTES;
  const floor = new WordFloor(poolBytes);
  const headers = new Map<bigint, PoolHeader>();
  const acks: TargetRun['acks'] = [];
  const opened = recordEveryMapping();
  let pool: PoolFile;
  try {
    pool = await PoolFile.create(path.join(dir, `target-pool-${granularity}`), {
      poolSize: poolBytes,
      attr: normalizeAttr({}),
      granularity,
    });
  } finally {
    stopRecordingEveryMapping();
  }
  const acknowledged = (generation: bigint): void => {
    const h = decodeHeader(pool.mapping.read(0, HEADER_BYTES), pool.poolSize, 'workload');
    expect(h.generation, 'ops resolve in header-chain order').to.equal(generation);
    headers.set(generation, h);
    acks.push({ generation: Number(generation), order: recordingMark() });
  };
  acknowledged(1n);

  let generation = 1n;
  let seq = 0n;
  let lsn = 0n;
  let ranges = 0;
  const issue = (op: () => Promise<void>, words: number[] = []): Promise<void> => {
    const g = ++generation;
    floor.wrote(Number(g), words);
    return op().then(() => acknowledged(g));
  };
  const batch = (writer: EpochClaim | undefined): Promise<void> => {
    const count = rng.range(1, MAX_RANGES_PER_BATCH);
    const lengths = Array.from({ length: count }, () => WORD_BYTES * (rng.chance(0.1) ? rng.range(64, 600) : rng.range(1, 24)));
    const backing = Buffer.alloc(lengths.reduce((a, b) => a + b, 0));
    const out: FileRange[] = [];
    const words: number[] = [];
    const g = Number(generation + 1n);
    let at = 0;
    for (const length of lengths) {
      const offset = HEADER_BYTES + WORD_BYTES * rng.int((DATA_BYTES - length) / WORD_BYTES + 1);
      const data = backing.subarray(at, at + length);
      at += length;
      stampWords(data, g, offset / WORD_BYTES);
      for (let w = 0; w < length / WORD_BYTES; w++) words.push(offset / WORD_BYTES + w);
      out.push({ offset, data });
    }
    ranges += count;
    seq += BigInt(rng.range(1, 3));
    const batchSeq = seq;
    const batchLsn = writer === undefined ? 0n : ++lsn;
    const deep = rng.chance(0.1);
    return issue(() => pool.applyBatch(out, batchSeq, batchLsn, deep, writer), words);
  };

  const claimAt = Math.floor(batches / 3);
  const syncingAt = Math.floor(batches / 2);
  const cleanAt = Math.floor((2 * batches) / 3);
  const attrAt = Math.floor((3 * batches) / 4);
  let done = 0;
  while (done < batches) {
    if (done === claimAt) await issue(() => pool.claimEpoch({ epoch: pool.epoch + 1n, claimant: rng.bytes(16) }));
    if (done === syncingAt) await issue(() => pool.setSyncState('syncing', 0n, pool.claim));
    if (done === cleanAt) await issue(() => pool.setSyncState('clean', lsn, pool.claim));
    if (done === attrAt) await issue(() => pool.setAttr(normalizeAttr({ major: 7 })));
    const writer = rng.chance(0.5) ? pool.claim : undefined;
    if (rng.chance(0.2)) {
      const group = Math.min(rng.range(2, MAX_GROUP_COMMIT), batches - done);
      await Promise.all(Array.from({ length: group }, () => batch(writer)));
      done += group;
    } else {
      await batch(writer);
      done++;
    }
  }
  const { path: recordedPath, mapping } = opened[0];
  await pool.close();
  return { recording: takeRecording(recordedPath, mapping), headers, acks, floor, ranges };
}

/** Checks every crash image of a target run (once: it raises the run's floor); scratch files go to `dir`. */
export function checkTargetRun(run: TargetRun, dir: string, budget: ImageBudget, rng: Rng): CrashTally {
  const scratch = scratchFile(dir, 'target');
  let acked = 0;
  let next = 0;
  const maxGeneration = Math.max(...[...run.headers.keys()].map(Number));
  return checkRecording(
    run.recording,
    budget,
    rng,
    (point) => {
      while (next < run.acks.length && run.acks[next].order < point.order) {
        acked = run.acks[next].generation;
        run.floor.acknowledge(acked);
        next++;
      }
    },
    (_point, image) => {
      const header = openImage(image.bytes, scratch);
      if (typeof header === 'string') {
        // Before the create resolved the file has only its hidden temporary name: no pool yet.
        if (acked === 0 && path.basename(run.recording.path).startsWith('.')) return 'absent';
        return `does not open: ${header}`;
      }
      const g = Number(header.generation);
      if (g < acked) return `header generation ${g} is behind generation ${acked}, acknowledged before the crash (I1)`;
      const written = run.headers.get(header.generation);
      if (written === undefined || g > maxGeneration) return `header generation ${g} was never written`;
      const differs = headerDifference(header, written);
      if (differs !== undefined) return `header generation ${g}: ${differs}`;
      const also: number[] = [];
      for (let k = acked + 1; k <= g; k++) also.push(k);
      const missing = run.floor.check(image.bytes, also);
      return missing === undefined ? undefined : `header generation ${g} is ahead of its data (I2): ${missing}`;
    },
  );
}
