/**
 * rpmemd's crash workload: a TargetServer in this process (the daemon's own code: Create, the
 * Persist stream, its batching of received ranges into header updates) with the recording domain
 * on, fed over gRPC by a RemotePool — thousands of overlapping word-stamped ranges pipelined on one
 * stream, some deep. Range i carries seq i and is stamped with i, so an image whose header says
 * durable seq s must hold, in every word, the last range <= s or a later one (I2), and s must be at
 * least the highest seq acknowledged before the crash (I1); before the create was acknowledged an
 * image may hold no pool.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Granularity, recordEveryMapping, recordingMark, stopRecordingEveryMapping } from '../../src/storage/native';
import { HEADER_BYTES } from '../../src/storage/pool-header';
import { RemotePool } from '../../src/initiator/remote-pool';
import { buildConfig } from '../../src/target/config';
import { Log } from '../../src/target/log';
import { TargetServer } from '../../src/target/server';
import { Rng } from './fuzz-rng';
import { CrashTally, checkRecording, openImage, scratchFile } from './crash-check';
import { ImageBudget } from './crash-images';
import { Recording, takeRecordings } from './crash-recording';
import { WORD_BYTES, WordFloor, stampWords } from './crash-stamps';

const DATA_BYTES = 64 * 1024;
/** Ranges in flight on the stream at once, so the daemon batches several into one header update. */
const WINDOW = 32;

export interface DaemonRun {
  recording: Recording;
  acks: Array<{ seq: number; order: number }>;
  created: number;
  floor: WordFloor;
  ranges: number;
}

/** Runs `ranges` persists against an in-process daemon whose pools are recorded. */
export async function runDaemonWorkload(dir: string, granularity: Granularity, ranges: number, rng: Rng): Promise<DaemonRun> {
  const poolDir = path.join(dir, `daemon-${granularity}`);
  fs.mkdirSync(poolDir);
  const floor = new WordFloor(HEADER_BYTES + DATA_BYTES);
  const acks: DaemonRun['acks'] = [];
  const opened = recordEveryMapping();
  const server = new TargetServer(
    buildConfig({ 'pool-dir': poolDir, listen: '127.0.0.1:0', insecure: true, granularity }),
    new Log('silent'),
  );
  let created: number;
  try {
    const { host, port } = await server.start();
    const pool = await RemotePool.create(`${host}:${port}`, 'crash', { size: DATA_BYTES });
    created = recordingMark();
    const inFlight = new Set<Promise<void>>();
    for (let seq = 1; seq <= ranges; seq++) {
      const length = WORD_BYTES * (rng.chance(0.05) ? rng.range(64, 600) : rng.range(1, 24));
      const offset = WORD_BYTES * rng.int((DATA_BYTES - length) / WORD_BYTES + 1);
      const data = Buffer.alloc(length);
      const fileWord = (HEADER_BYTES + offset) / WORD_BYTES;
      stampWords(data, seq, fileWord);
      floor.wrote(
        seq,
        Array.from({ length: length / WORD_BYTES }, (_, i) => fileWord + i),
      );
      const sent = (rng.chance(0.05) ? pool.deepPersist(offset, data) : pool.persist(offset, data)).then((result) => {
        if (result.seq !== BigInt(seq)) throw new Error(`range ${seq} was acked as seq ${result.seq}`);
        acks.push({ seq, order: recordingMark() });
      });
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent)).catch(() => undefined);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await pool.close();
  } finally {
    stopRecordingEveryMapping();
    await server.shutdown();
  }
  // Create maps the pool under its temporary name and closes it; Open maps it again: one file's life.
  const recordings = takeRecordings(opened);
  if (recordings.length !== 2)
    throw new Error(`expected the daemon to record a create and an open, got ${recordings.map((r) => r.path).join(', ')}`);
  const [create, open] = recordings;
  return { recording: { ...create, events: [...create.events, ...open.events] }, acks, created, floor, ranges };
}

/** Checks every crash image of a daemon run. */
export function checkDaemonRun(run: DaemonRun, dir: string, budget: ImageBudget, rng: Rng): CrashTally {
  const scratch = scratchFile(dir, 'daemon');
  let acked = 0;
  let next = 0;
  let createAcked = false;
  return checkRecording(
    run.recording,
    budget,
    rng,
    (point) => {
      createAcked = run.created < point.order;
      for (; next < run.acks.length && run.acks[next].order < point.order; next++) {
        run.floor.acknowledge(run.acks[next].seq);
        acked = Math.max(acked, run.acks[next].seq);
      }
    },
    (_point, image) => {
      const header = openImage(image.bytes, scratch);
      if (typeof header === 'string') return createAcked ? `does not open: ${header}` : 'absent';
      const s = Number(header.durableSeq);
      if (s < acked) return `durable seq ${s} is behind seq ${acked}, acknowledged before the crash (I1)`;
      if (s > run.ranges) return `durable seq ${s} was never sent`;
      const also: number[] = [];
      for (let k = acked + 1; k <= s; k++) also.push(k);
      const missing = run.floor.check(image.bytes, also);
      return missing === undefined ? undefined : `durable seq ${s} is ahead of its data (I2): ${missing}`;
    },
  );
}
