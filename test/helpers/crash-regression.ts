/**
 * Regression recordings: a target run (its recording and the model to check it against) saved as
 * JSON under test/crash-regressions/, so a recording that once exposed a bug is checked again on
 * every run — proof that the checks still catch that ordering, whatever the code does now.
 */
import * as fs from 'fs';
import { PoolHeader, decodeHeader, encodeHeader, slotOffset, HEADER_BYTES } from '../../src/storage/pool-header';
import { EventKind, RecordedEvent } from './crash-recording';
import { TargetRun } from './crash-target-workload';
import { WordFloor } from './crash-stamps';

interface SavedRun {
  recording: { path: string; granularity: 'cache-line' | 'page'; size: number };
  /** [order, kind, offset, length, base64 bytes or '' (none) or 'zeros'] */
  events: Array<[number, EventKind, number, number, string]>;
  headers: string[];
  acks: TargetRun['acks'];
  writes: Array<[number, number[]]>;
  ranges: number;
}

function savedBytes(e: RecordedEvent): string {
  if (e.bytes === undefined) return '';
  return e.bytes.every((b) => b === 0) ? 'zeros' : e.bytes.toString('base64');
}

/** Writes `run` to `file` (before it is checked: checking raises its floor). */
export function saveTargetRun(run: TargetRun, file: string): void {
  const saved: SavedRun = {
    recording: { path: run.recording.path, granularity: run.recording.granularity, size: run.recording.size },
    events: run.recording.events.map((e) => [e.order, e.kind, e.offset, e.length, savedBytes(e)]),
    headers: [...run.headers.values()].map((h) => encodeHeader(h).toString('base64')),
    acks: run.acks,
    writes: [...run.floor.writes],
    ranges: run.ranges,
  };
  fs.writeFileSync(file, JSON.stringify(saved) + '\n');
}

/** Reads a run saved by {@link saveTargetRun}. */
export function loadTargetRun(file: string): TargetRun {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedRun;
  const events: RecordedEvent[] = saved.events.map(([order, kind, offset, length, bytes]) => ({
    order,
    kind,
    offset,
    length,
    bytes: bytes === '' ? undefined : bytes === 'zeros' ? Buffer.alloc(length) : Buffer.from(bytes, 'base64'),
  }));
  const headers = new Map<bigint, PoolHeader>();
  for (const text of saved.headers) {
    const slot = Buffer.from(text, 'base64');
    const image = Buffer.alloc(HEADER_BYTES);
    const generation = slot.readBigUInt64LE(16);
    slot.copy(image, slotOffset(generation));
    const h = decodeHeader(image, saved.recording.size, file);
    headers.set(h.generation, h);
  }
  const floor = new WordFloor(saved.recording.size);
  for (const [writer, words] of saved.writes) floor.wrote(writer, words);
  return { recording: { ...saved.recording, events }, headers, acks: saved.acks, floor, ranges: saved.ranges };
}
