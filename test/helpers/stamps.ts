/**
 * Recognisable range contents: range `n` goes to slot `n % SLOTS` and carries `n` stamped over
 * its bytes, so a test can tell which write a slot holds.
 */
export const SLOT_BYTES = 4096;
export const SLOTS = 1024;

export function stamp(n: number): Buffer {
  const b = Buffer.alloc(SLOT_BYTES);
  for (let at = 0; at < SLOT_BYTES; at += 8) {
    b.writeUInt32LE(n, at);
    b.writeUInt32LE(~n >>> 0, at + 4);
  }
  return b;
}

/** The `n` stamped over slot `slot` of `data`, or undefined when the slot holds no whole stamp. */
export function stampAt(data: Buffer, slot: number): number | undefined {
  const bytes = data.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES);
  const n = bytes.readUInt32LE(0);
  return bytes.equals(stamp(n)) ? n : undefined;
}
