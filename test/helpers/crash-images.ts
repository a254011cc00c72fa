/**
 * Crash images from a recording: what a power loss could leave on the media at each fence or sync
 * point, under the model of PMDK's pmreorder.
 *
 * - Cache-line granularity: a store is pending until a flush of its line is followed by a fence
 *   (or an msync of its page). Pending stores reach the media in any order, 8-byte aligned words
 *   being the only atomic unit; a word with several pending stores holds the durable value or the
 *   value after any prefix of them (its cache line held each in turn).
 * - Page granularity: a pwrite (or a store found by persist()) is pending until fdatasync (or an
 *   msync of its page) returns; pending writes land as any subset of 512-byte sectors, each
 *   holding the durable bytes or a prefix of its pending writes.
 *
 * A crash point is the moment just before a fence or sync completes, and the end of the recording.
 * A crash anywhere between two such points leaves a prefix of the later point's pending writes,
 * which the prefix and subset images below cover, so checking these points checks every moment.
 */
import { Rng } from './fuzz-rng';
import { Recording } from './crash-recording';

/** Bytes the media writes atomically: an aligned 8-byte word, or a 512-byte sector. */
export function atomicUnitBytes(recording: Recording): number {
  return recording.granularity === 'cache-line' ? 8 : 512;
}

/** A pending write cut at atomic-unit boundaries: one piece lies inside one unit. */
export interface Piece {
  unit: number;
  offset: number;
  bytes: Buffer;
  /** Cache-line only: a flush of its line was issued after it, so the next fence makes it durable. */
  flushed: boolean;
}

export interface CrashPoint {
  /** Index in the recording of the fence or sync about to complete (events.length at the end). */
  index: number;
  /** The process-wide order of that event (Infinity at the end): marks below it happened before the crash. */
  order: number;
  /** What earlier fences and syncs made durable. Shared: do not modify. */
  durable: Buffer;
  /** Stored but not yet durable, in recording order. */
  pending: Piece[];
}

/** Walks a recording and yields each crash point. */
export function* crashPoints(recording: Recording): Generator<CrashPoint> {
  const unitBytes = atomicUnitBytes(recording);
  let durable = Buffer.alloc(recording.size);
  let pending: Piece[] = [];
  const land = (pick: (p: Piece) => boolean): void => {
    const next = Buffer.from(durable);
    const left: Piece[] = [];
    for (const p of pending) {
      if (pick(p)) p.bytes.copy(next, p.offset);
      else left.push(p);
    }
    durable = next;
    pending = left;
  };
  const events = recording.events;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    switch (e.kind) {
      case 'snapshot':
        durable = Buffer.from(e.bytes as Buffer);
        break;
      case 'store':
      case 'pwrite':
        for (let at = e.offset; at < e.offset + e.length;) {
          const unit = Math.floor(at / unitBytes);
          const end = Math.min(e.offset + e.length, (unit + 1) * unitBytes);
          pending.push({ unit, offset: at, bytes: (e.bytes as Buffer).subarray(at - e.offset, end - e.offset), flushed: false });
          at = end;
        }
        break;
      case 'flush':
        for (const p of pending) if (p.offset >= e.offset && p.offset < e.offset + e.length) p.flushed = true;
        break;
      case 'fence':
        yield { index: i, order: e.order, durable, pending };
        land((p) => p.flushed);
        break;
      case 'fdatasync':
        yield { index: i, order: e.order, durable, pending };
        land(() => true);
        break;
      case 'msync':
        yield { index: i, order: e.order, durable, pending };
        land((p) => p.offset >= e.offset && p.offset < e.offset + e.length);
        break;
    }
  }
  yield { index: events.length, order: Infinity, durable, pending };
}

/** How one image chose among the pending writes, for failure messages. */
export type ImageStrategy = 'none' | 'all' | `prefix ${number}` | `random ${number}`;

export interface CrashImage {
  strategy: ImageStrategy;
  bytes: Buffer;
}

export interface ImageBudget {
  /** Most prefix images per crash point (evenly spread over the pending writes when there are more). */
  prefixes: number;
  /** Seeded random-subset images per crash point. */
  randoms: number;
}

function applied(point: CrashPoint, pieces: Iterable<Piece>): Buffer {
  const image = Buffer.from(point.durable);
  for (const p of pieces) p.bytes.copy(image, p.offset);
  return image;
}

/**
 * The images of one crash point: none of the pending writes, all of them, prefixes in recording
 * order, and random subsets where each atomic unit holds its durable bytes or a random prefix of
 * its own pending writes.
 */
export function* crashImages(point: CrashPoint, budget: ImageBudget, rng: Rng): Generator<CrashImage> {
  const pending = point.pending;
  yield { strategy: 'none', bytes: point.durable };
  if (pending.length === 0) return;
  yield { strategy: 'all', bytes: applied(point, pending) };
  const inner = pending.length - 1;
  const prefixes = Math.min(inner, budget.prefixes);
  for (let k = 1; k <= prefixes; k++) {
    const cut = inner <= budget.prefixes ? k : Math.max(1, Math.round((k * inner) / prefixes));
    yield { strategy: `prefix ${cut}`, bytes: applied(point, pending.slice(0, cut)) };
  }
  const byUnit = new Map<number, Piece[]>();
  for (const p of pending) {
    const list = byUnit.get(p.unit);
    if (list === undefined) byUnit.set(p.unit, [p]);
    else list.push(p);
  }
  for (let r = 0; r < budget.randoms; r++) {
    const chosen: Piece[] = [];
    for (const list of byUnit.values()) {
      const take = rng.u32() % (list.length + 1);
      for (let k = 0; k < take; k++) chosen.push(list[k]);
    }
    yield { strategy: `random ${r}`, bytes: applied(point, chosen) };
  }
}
