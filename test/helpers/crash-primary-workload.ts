/**
 * The primary's crash workload: a ReplicatedPool (local pool plus one real rpmemd replica) with
 * the recording domain on, so its local pool file and the replica's dirty map are both recorded
 * while the application stores word stamps and persists them — local persists, dirty-map marks
 * (a block touched for the first time) and clears (blocks idle past the activity window), and the
 * LSN reservation made at open. Sends to the replica are observed at RemotePool.persist, placed in
 * the recordings' order with recordingMark().
 *
 * Checks: every image of either file opens; the local image holds every persist acknowledged
 * before the crash (I1, word floors) and a reserved LSN at least as high as every LSN already sent
 * (a restarted primary never reuses one); every dirty-map image marks every block of every range
 * in flight to the replica at the crash — sent, not yet acked (I4).
 */
import * as path from 'path';
import { Granularity, recordEveryMapping, recordingMark, stopRecordingEveryMapping } from '../../src/storage/native';
import { decodeHeader, HEADER_BYTES } from '../../src/storage/pool-header';
import { blockBytesFor } from '../../src/initiator/dirty-map';
import { PersistOptions, RemotePool } from '../../src/initiator/remote-pool';
import { ReplicatedPool } from '../../src/initiator/replicated-pool';
import { PersistResult, RangeSink } from '../../src/initiator/persist-stream';
import { Rng } from './fuzz-rng';
import { CrashTally, addTally, checkRecording, emptyTally, openImage, scratchFile } from './crash-check';
import { CrashPoint, ImageBudget } from './crash-images';
import { Recording, takeRecordings } from './crash-recording';
import { WORD_BYTES, WordFloor, stampWords } from './crash-stamps';
import { TestTarget } from './test-target';

const DATA_BYTES = 1024 * 1024;
/** Ranges sit in distinct slots of a burst, so persists in flight together never overlap. */
const SLOT_BYTES = 4096;
const MAX_BURST = 4;
/** Short, so idle blocks are cleared during the run; the waits below let the timer fire. */
const ACTIVITY_WINDOW_MS = 15;

interface Send {
  offset: number;
  length: number;
  lsn: bigint;
  order: number;
  ackOrder?: number;
}

export interface PrimaryRun {
  local: Recording;
  dirty: Recording;
  sends: Send[];
  acks: Array<{ writer: number; order: number }>;
  floor: WordFloor;
  blockBytes: number;
  persists: number;
}

/** Runs `persists` persists through a ReplicatedPool at `granularity` against `target`. */
export async function runPrimaryWorkload(
  dir: string,
  target: TestTarget,
  granularity: Granularity,
  persists: number,
  rng: Rng,
): Promise<PrimaryRun> {
  const sends: Send[] = [];
  const acks: PrimaryRun['acks'] = [];
  const floor = new WordFloor(HEADER_BYTES + DATA_BYTES);
  const realPersist = RemotePool.prototype.persist;
  const realPersistTo = RemotePool.prototype.persistTo;
  // Resync copies go through persist, replicated ranges through persistTo: both are sends.
  RemotePool.prototype.persist = function (
    this: RemotePool,
    offset: number,
    data: Buffer,
    options?: PersistOptions,
  ): Promise<PersistResult> {
    const send: Send = { offset, length: data.length, lsn: options?.lsn ?? 0n, order: recordingMark() };
    sends.push(send);
    const ack = realPersist.call(this, offset, data, options);
    ack.then(
      () => (send.ackOrder = recordingMark()),
      () => undefined,
    );
    return ack;
  };
  RemotePool.prototype.persistTo = function (
    this: RemotePool,
    offset: number,
    data: Buffer,
    lsn: bigint,
    crc: number,
    sink: RangeSink,
  ): void {
    const send: Send = { offset, length: data.length, lsn, order: recordingMark() };
    sends.push(send);
    realPersistTo.call(this, offset, data, lsn, crc, {
      acked: (seq, granularity, durability) => {
        send.ackOrder = recordingMark();
        sink.acked(seq, granularity, durability);
      },
      failed: (e) => sink.failed(e),
    });
  };
  const opened = recordEveryMapping();
  let rp: ReplicatedPool | undefined;
  try {
    rp = await ReplicatedPool.open(path.join(dir, `primary-${granularity}`), {
      replicas: [`${target.address}/crash-${granularity}`],
      ack: 'all',
      create: { size: DATA_BYTES },
      granularity,
      activityWindowMs: ACTIVITY_WINDOW_MS,
      callTimeoutMs: 5000,
      ackTimeoutMs: 30_000,
      openWaitMs: 30_000,
    });
    const pool = rp;
    let writer = 0;
    for (let done = 0; done < persists;) {
      const burst = Math.min(rng.range(1, MAX_BURST), persists - done);
      const slots = new Set<number>();
      while (slots.size < burst) slots.add(rng.int(DATA_BYTES / SLOT_BYTES));
      await Promise.all(
        [...slots].map((slot) => {
          const id = ++writer;
          const length = WORD_BYTES * rng.range(1, SLOT_BYTES / WORD_BYTES / 4);
          const offset = slot * SLOT_BYTES + WORD_BYTES * rng.int((SLOT_BYTES - length) / WORD_BYTES + 1);
          const fileWord = (HEADER_BYTES + offset) / WORD_BYTES;
          stampWords(pool.buffer.subarray(offset, offset + length), id, fileWord);
          floor.wrote(
            id,
            Array.from({ length: length / WORD_BYTES }, (_, i) => fileWord + i),
          );
          return pool.persist(offset, length).then(() => acks.push({ writer: id, order: recordingMark() }));
        }),
      );
      done += burst;
      if (rng.chance(0.1)) await new Promise((resolve) => setTimeout(resolve, 2 * ACTIVITY_WINDOW_MS));
    }
    await rp.close();
  } finally {
    stopRecordingEveryMapping();
    RemotePool.prototype.persist = realPersist;
    RemotePool.prototype.persistTo = realPersistTo;
    await rp?.close().catch(() => undefined);
  }
  const recordings = takeRecordings(opened);
  const local = recordings.filter((r) => !r.path.includes('.dirty-'));
  const dirty = recordings.filter((r) => r.path.includes('.dirty-'));
  if (local.length !== 1 || dirty.length !== 1)
    throw new Error(`expected one local pool and one dirty map recorded, got ${recordings.map((r) => r.path).join(', ')}`);
  return { local: local[0], dirty: dirty[0], sends, acks, floor, blockBytes: blockBytesFor(DATA_BYTES), persists };
}

/** Checks every crash image of both recordings of a primary run. */
export function checkPrimaryRun(run: PrimaryRun, dir: string, budget: ImageBudget, rng: Rng): CrashTally & { clearsSeen: number } {
  const tally = emptyTally();
  const scratch = scratchFile(dir, 'primary');
  let nextAck = 0;
  let sent = 0;
  let maxSentLsn = 0n;
  let stillCreating = true;
  addTally(
    tally,
    checkRecording(
      run.local,
      budget,
      rng,
      (point) => {
        stillCreating = beforeFirstHeader(point, run.local);
        for (; nextAck < run.acks.length && run.acks[nextAck].order < point.order; nextAck++)
          run.floor.acknowledge(run.acks[nextAck].writer);
        for (; sent < run.sends.length && run.sends[sent].order < point.order; sent++) {
          if (run.sends[sent].lsn > maxSentLsn) maxSentLsn = run.sends[sent].lsn;
        }
      },
      (_point, image) => {
        const header = openImage(image.bytes, scratch);
        if (typeof header === 'string') return stillCreating ? 'absent' : `does not open: ${header}`;
        if (header.lsn < maxSentLsn) return `header LSN ${header.lsn} is below LSN ${maxSentLsn}, already sent: a restart would reuse it`;
        const missing = run.floor.check(image.bytes);
        return missing === undefined ? undefined : `an acknowledged local persist is missing (I1): ${missing}`;
      },
    ),
  );
  let clearsSeen = 0;
  let previousBits = -1;
  addTally(
    tally,
    checkRecording(
      run.dirty,
      budget,
      rng,
      (point) => {
        stillCreating = beforeFirstHeader(point, run.dirty);
        const bits = countBits(point.durable.subarray(HEADER_BYTES));
        if (bits < previousBits) clearsSeen++;
        previousBits = bits;
      },
      (point, image) => {
        const header = openImage(image.bytes, scratch);
        const inFlight = run.sends.filter((s) => s.order < point.order && (s.ackOrder === undefined || s.ackOrder > point.order));
        if (typeof header === 'string') return stillCreating && inFlight.length === 0 ? 'absent' : `does not open: ${header}`;
        for (const s of inFlight) {
          for (let b = Math.floor(s.offset / run.blockBytes); b <= Math.floor((s.offset + s.length - 1) / run.blockBytes); b++) {
            if ((image.bytes[HEADER_BYTES + (b >> 3)] & (1 << (b & 7))) === 0) {
              return `block ${b} is not marked while LSN ${s.lsn} (offset ${s.offset}) is in flight to the replica (I4)`;
            }
          }
        }
        return undefined;
      },
    ),
  );
  return { ...tally, clearsSeen };
}

/**
 * Whether no header slot was durable yet at `point`: the pool is still being created under its
 * hidden temporary name (PoolFile.create links it only after), so an image may hold no pool.
 */
function beforeFirstHeader(point: CrashPoint, recording: Recording): boolean {
  if (!path.basename(recording.path).startsWith('.')) return false;
  try {
    decodeHeader(point.durable.subarray(0, HEADER_BYTES), point.durable.length, recording.path);
    return false;
  } catch {
    return true;
  }
}

function countBits(bytes: Buffer): number {
  let n = 0;
  for (const byte of bytes) for (let v = byte; v !== 0; v &= v - 1) n++;
  return n;
}
