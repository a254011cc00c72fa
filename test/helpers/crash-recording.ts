/**
 * Recordings of the native writer's recording persistence domain (native/recording.h), decoded:
 * one list of events per pool file, each with its process-wide order, so the recordings of several
 * files (a pool and its dirty maps) and JS marks (acks, sends) interleave exactly.
 */
import { Granularity, NativePoolMapping, RecordedMapping } from '../../src/storage/native';

/** The kinds native/recording.h numbers. */
export type EventKind = 'snapshot' | 'store' | 'flush' | 'fence' | 'pwrite' | 'fdatasync' | 'msync';

const KINDS: EventKind[] = ['snapshot', 'store', 'flush', 'fence', 'pwrite', 'fdatasync', 'msync'];
const FIELDS_PER_EVENT = 5;

export interface RecordedEvent {
  order: number;
  kind: EventKind;
  offset: number;
  length: number;
  /** The bytes of a snapshot, store or pwrite (a view of the recording's data). */
  bytes?: Buffer;
}

export interface Recording {
  /** The path the mapping was opened at (a pool being created has its hidden temporary name). */
  path: string;
  granularity: Granularity;
  size: number;
  events: RecordedEvent[];
}

/** Decodes everything `mapping` recorded since the last take. */
export function takeRecording(path: string, mapping: NativePoolMapping): Recording {
  const { fields, data } = mapping.takeRecording();
  const events: RecordedEvent[] = [];
  for (let i = 0; i < fields.length; i += FIELDS_PER_EVENT) {
    const kind = KINDS[fields[i + 1]];
    if (kind === undefined) throw new Error(`unknown recorded event kind ${fields[i + 1]}`);
    const event: RecordedEvent = { order: fields[i], kind, offset: fields[i + 2], length: fields[i + 3] };
    if (kind === 'snapshot' || kind === 'store' || kind === 'pwrite') {
      event.bytes = data.subarray(fields[i + 4], fields[i + 4] + event.length);
    }
    events.push(event);
  }
  return { path, granularity: mapping.granularity, size: mapping.size, events };
}

/** Decodes the recordings of every mapping a workload opened (see recordEveryMapping). */
export function takeRecordings(opened: RecordedMapping[]): Recording[] {
  return opened.map((m) => takeRecording(m.path, m.mapping));
}

/** Counts events by kind, for reports. */
export function countEvents(recording: Recording): Record<EventKind, number> {
  const counts = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<EventKind, number>;
  for (const e of recording.events) counts[e.kind]++;
  return counts;
}
