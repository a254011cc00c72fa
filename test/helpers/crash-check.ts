/**
 * The crash-image driver: every crash point of a recording, every image of each, one check per
 * image; and opening an image with the project's own code (PoolFile.open, decodeHeader).
 */
import * as fs from 'fs';
import * as path from 'path';
import { PoolFile } from '../../src/storage/pool-file';
import { PoolHeader, decodeHeader, HEADER_BYTES } from '../../src/storage/pool-header';
import { Rng } from './fuzz-rng';
import { CrashImage, CrashPoint, ImageBudget, crashImages, crashPoints } from './crash-images';
import { Recording } from './crash-recording';

/** Counts of one recording's pass, and what failed (the first few failures, described). */
export interface CrashTally {
  crashPoints: number;
  images: number;
  /** Images with no valid header that were allowed to have none (a pool not yet created). */
  absent: number;
  failures: string[];
}

const MAX_FAILURES_KEPT = 5;

/** A new, empty tally. */
export function emptyTally(): CrashTally {
  return { crashPoints: 0, images: 0, absent: 0, failures: [] };
}

/** Adds `b` into `a`. */
export function addTally(a: CrashTally, b: CrashTally): void {
  a.crashPoints += b.crashPoints;
  a.images += b.images;
  a.absent += b.absent;
  for (const f of b.failures) if (a.failures.length < MAX_FAILURES_KEPT) a.failures.push(f);
}

/**
 * Checks every image of every crash point of `recording`: `atPoint` is told each point first (to
 * advance the model to what was acknowledged before it), then `check` judges each image and
 * returns why it is wrong, 'absent' when it may legitimately hold no pool, or undefined.
 */
export function checkRecording(
  recording: Recording,
  budget: ImageBudget,
  rng: Rng,
  atPoint: (point: CrashPoint) => void,
  check: (point: CrashPoint, image: CrashImage) => string | 'absent' | undefined,
): CrashTally {
  const tally = emptyTally();
  for (const point of crashPoints(recording)) {
    tally.crashPoints++;
    atPoint(point);
    for (const image of crashImages(point, budget, rng)) {
      tally.images++;
      const why = check(point, image);
      if (why === 'absent') tally.absent++;
      else if (why !== undefined && tally.failures.length < MAX_FAILURES_KEPT) {
        tally.failures.push(
          `${path.basename(recording.path)} (${recording.granularity}) crash point at event ${point.index}, image "${image.strategy}": ${why}`,
        );
      }
    }
  }
  return tally;
}

/**
 * Opens `image` as a pool file the way a restarted daemon would (PoolFile.open on a file holding
 * exactly these bytes) and returns its header, or the reason it does not open.
 */
export function openImage(image: Buffer, scratch: string): PoolHeader | string {
  fs.writeFileSync(scratch, image);
  let pool: PoolFile;
  try {
    pool = PoolFile.open(scratch, { readOnly: true });
  } catch (err) {
    return (err as Error).message;
  }
  // The mapping's own close releases the file at once (nothing is in flight on a read-only pool);
  // PoolFile.close would wait a turn of the event loop this synchronous pass never gives.
  void pool.mapping.close();
  // PoolFile keeps its header private; decodeHeader is the code PoolFile.open just ran on these bytes.
  return decodeHeader(image.subarray(0, HEADER_BYTES), image.length, scratch);
}

/** The first header field in which `got` differs from `want`, or undefined. */
export function headerDifference(got: PoolHeader, want: PoolHeader): string | undefined {
  const fields: Array<keyof PoolHeader> = ['generation', 'poolSize', 'durableSeq', 'epoch', 'historyEpoch', 'lsn', 'syncState'];
  for (const f of fields) if (got[f] !== want[f]) return `${f} ${String(got[f])}, written ${String(want[f])}`;
  if (!got.claimant.equals(want.claimant)) return 'claimant differs from the one written';
  if (!got.poolUuid.equals(want.poolUuid)) return 'pool uuid differs from the one written';
  if (JSON.stringify(got.attr) !== JSON.stringify(want.attr)) return 'attributes differ from the ones written';
  return undefined;
}

/** A scratch file for {@link openImage} in `dir`. */
export function scratchFile(dir: string, name: string): string {
  return path.join(dir, `${name}.crash-image`);
}
