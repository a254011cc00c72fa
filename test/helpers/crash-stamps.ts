/**
 * Word stamps for crash images: every 8-byte word a workload writes holds (writer id, a hash of
 * the id and the word's index), so a checker reading an image can tell, word by word, which write
 * it holds or that it holds none (zero) — and a word moved, torn or invented fails the hash.
 */

/** The bytes a stamp covers; ranges the workloads write are whole words. */
export const WORD_BYTES = 8;

function mix(writer: number, word: number): number {
  let h = Math.imul(writer ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(word + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0 || 1;
}

/** Stamps `buf` (whole words) as written by `writer` (> 0) at file word index `firstWord`. */
export function stampWords(buf: Buffer, writer: number, firstWord: number): void {
  for (let i = 0; i * WORD_BYTES < buf.length; i++) {
    buf.writeUInt32LE(writer, i * WORD_BYTES);
    buf.writeUInt32LE(mix(writer, firstWord + i), i * WORD_BYTES + 4);
  }
}

/** The writer whose stamp word `word` of `image` holds: 0 for a zero word, -1 for anything else. */
export function stampAt(image: Buffer, word: number): number {
  const writer = image.readUInt32LE(word * WORD_BYTES);
  const check = image.readUInt32LE(word * WORD_BYTES + 4);
  if (writer === 0 && check === 0) return 0;
  return writer !== 0 && check === mix(writer, word) ? writer : -1;
}

/**
 * Which writer each word must at least hold: `acknowledge` raises the floor of every word a
 * writer wrote (writers are acknowledged in the order their writes may overlap), and `check`
 * compares an image against the floor, optionally raised by writers the image claims to hold.
 */
export class WordFloor {
  private readonly floor: Int32Array;
  private readonly touched = new Set<number>();
  readonly writes = new Map<number, number[]>();

  constructor(fileBytes: number) {
    this.floor = new Int32Array(Math.floor(fileBytes / WORD_BYTES));
  }

  /** Records that `writer` writes `words` (word indexes); call before it can reach any image. */
  wrote(writer: number, words: number[]): void {
    const list = this.writes.get(writer);
    if (list === undefined) this.writes.set(writer, [...words]);
    else list.push(...words);
  }

  /** `writer`'s words must now hold it or a later writer. */
  acknowledge(writer: number): void {
    for (const w of this.writes.get(writer) ?? []) {
      if (this.floor[w] < writer) this.floor[w] = writer;
      this.touched.add(w);
    }
  }

  /** The first word of `image` below its floor (raised by `also`), described; undefined when none. */
  check(image: Buffer, also: number[] = []): string | undefined {
    const raised = new Map<number, number>();
    for (const writer of also) for (const w of this.writes.get(writer) ?? []) raised.set(w, Math.max(raised.get(w) ?? 0, writer));
    const bad = (w: number, need: number): string | undefined => {
      const held = stampAt(image, w);
      if (held >= need && held >= 0) return undefined;
      return `word ${w} (file offset ${w * WORD_BYTES}) holds ${held < 0 ? 'a torn or foreign value' : `writer ${held}`}, needs writer ${need} or later`;
    };
    for (const w of this.touched) {
      const why = bad(w, Math.max(this.floor[w], raised.get(w) ?? 0));
      if (why !== undefined) return why;
    }
    for (const [w, need] of raised) {
      if (this.touched.has(w)) continue;
      const why = bad(w, need);
      if (why !== undefined) return why;
    }
    return undefined;
  }
}
