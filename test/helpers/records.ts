/**
 * Write-once records for failover histories: record `n` of writer `w` has a slot of its own and a
 * recognisable body, so a checker can tell, for every record a primary acknowledged, whether a
 * later primary still holds it.
 */
export const RECORD_BYTES = 256;
/** Slots each writer owns: writer `w` writes slots [w × SLOTS_PER_WRITER, (w + 1) × SLOTS_PER_WRITER). */
export const SLOTS_PER_WRITER = 4096;

/** The data-area offset of record `n` of writer `writer`, when each writer owns `slots` slots. */
export function recordOffset(writer: number, n: number, slots = SLOTS_PER_WRITER): number {
  if (n >= slots) throw new Error(`writer ${writer} ran out of slots at record ${n}`);
  return (writer * slots + n) * RECORD_BYTES;
}

/** The body of record `n` of writer `writer`. */
export function record(writer: number, n: number): Buffer {
  const b = Buffer.alloc(RECORD_BYTES);
  const key = (writer * 1_000_003 + n * 7919 + 1) >>> 0;
  for (let at = 0; at < RECORD_BYTES; at += 8) {
    b.writeUInt32LE(key, at);
    b.writeUInt32LE((~key + at) >>> 0, at + 4);
  }
  return b;
}

/** The acknowledged records of `acked` that `data` (a primary's data area) does not hold, as `w:n`. */
export function missingRecords(data: Buffer, acked: Iterable<[number, number]>, slots = SLOTS_PER_WRITER): string[] {
  const missing: string[] = [];
  for (const [writer, n] of acked) {
    const at = recordOffset(writer, n, slots);
    if (!data.subarray(at, at + RECORD_BYTES).equals(record(writer, n))) missing.push(`${writer}:${n}`);
  }
  return missing;
}
