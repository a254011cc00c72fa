/**
 * The native writer (native/, loaded through src/storage/native.ts) against real files: forced
 * cache-line granularity on tmpfs (/dev/shm, emulated pmem) and page granularity on os.tmpdir().
 * Teardown paths (GC, worker_threads, other processes) run in real child processes and workers.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import {
  Granularity,
  INLINE_MAX_BYTES,
  NativePoolMapping,
  PACKED_RANGE_FIELDS,
  cpuFeatures,
  crc32c,
  openMapping,
  wrapNative,
} from '../src/storage/native';
import { SHM_BASE, TmpDirs } from './helpers/tmp-dirs';

/** The compiled loader, for child processes and workers (they cannot load TypeScript). */
const NATIVE_JS = require.resolve('../src/storage/native');

const EIO = os.constants.errno.EIO;
const POOL_BYTES = 1 << 20;

/** The error `fn` throws, as an RpmemError. */
function thrown(fn: () => unknown): RpmemError {
  try {
    fn();
  } catch (err) {
    return wrapNative(err);
  }
  throw new Error('expected a throw');
}

/** The error `promise` rejects with, as an RpmemError. */
async function rejection(promise: Promise<unknown>): Promise<RpmemError> {
  try {
    await promise;
  } catch (err) {
    return wrapNative(err);
  }
  throw new Error('expected a rejection');
}

/** A small seeded PRNG (mulberry32), so a failing layout can be reproduced. */
function prng(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * below;
  };
}

/**
 * The same ranges as writePacked arguments: the datas laid into one source Buffer at scattered
 * positions (random gaps, so ranges start at arbitrary byte offsets), and the plan of triples.
 */
/**
 * `count` random ranges of the pool (one in ten up to 20,000 bytes, else up to 300), then one
 * ending at the very last byte; `expected` is the pool after writing them in order (they may
 * overlap: later ones win, as on the target).
 */
function randomRanges(random: (below: number) => number, count: number): { offsets: number[]; datas: Buffer[]; expected: Buffer } {
  const expected = Buffer.alloc(POOL_BYTES);
  const offsets: number[] = [];
  const datas: Buffer[] = [];
  const add = (offset: number, data: Buffer): void => {
    offsets.push(offset);
    datas.push(data);
    data.copy(expected, offset);
  };
  for (let i = 0; i < count; i++) {
    const length = 1 + Math.floor(random(i % 10 === 0 ? 20_000 : 300));
    add(Math.floor(random(POOL_BYTES - length + 1)), crypto.randomBytes(length));
  }
  add(POOL_BYTES - 7, Buffer.from('the-end'));
  return { offsets, datas, expected };
}

function packRanges(offsets: number[], datas: Buffer[], random: (below: number) => number): { source: Buffer; plan: Float64Array } {
  const starts: number[] = [];
  let at = 0;
  for (const data of datas) {
    at += Math.floor(random(9));
    starts.push(at);
    at += data.length;
  }
  const source = crypto.randomBytes(at + 5); // gap bytes are noise that must not land anywhere
  const plan = new Float64Array(datas.length * PACKED_RANGE_FIELDS);
  datas.forEach((data, i) => {
    data.copy(source, starts[i]);
    plan.set([offsets[i], starts[i], data.length], i * PACKED_RANGE_FIELDS);
  });
  return { source, plan };
}

/** CRC32C one byte at a time from the polynomial: the reference the native code must match. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

function referenceCrc32c(data: Buffer, initial = 0): number {
  let crc = ~initial >>> 0;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** Runs a Node script in a child process; `args` become process.argv[1..]. */
function runNode(script: string, args: string[], nodeArgs: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...nodeArgs, '-e', script, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr };
}

/** Opens `file` in another process and reports 'OPENED' or the error code. */
function openInChild(file: string): string {
  const script = `
    const { openMapping } = require(process.argv[1]);
    try {
      openMapping(process.argv[2], {}).close().then(() => console.log('OPENED'));
    } catch (err) {
      console.log(err.code);
    }`;
  const { status, stdout, stderr } = runNode(script, [NATIVE_JS, file]);
  expect(status, stderr).to.equal(0);
  return stdout;
}

describe('native writer', function () {
  const dirs = new TmpDirs();
  after(() => dirs.removeAll());

  describe('crc32c', () => {
    it('matches the standard check values', () => {
      expect(crc32c(Buffer.from('123456789'))).to.equal(0xe3069283);
      expect(crc32c(Buffer.alloc(32, 0x00))).to.equal(0x8a9136aa);
      expect(crc32c(Buffer.alloc(32, 0xff))).to.equal(0x62a8ab43);
      expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).to.equal(0x46dd794e);
      expect(crc32c(Buffer.alloc(0))).to.equal(0);
      expect(crc32c(Buffer.alloc(0), 0x12345678)).to.equal(0x12345678);
    });

    it('continues from an initial CRC: crc32c(b, crc32c(a)) equals crc32c(a + b)', () => {
      const data = crypto.randomBytes(10_000);
      const whole = crc32c(data);
      const random = prng(7);
      for (let i = 0; i < 100; i++) {
        const split = Math.floor(random(data.length + 1));
        expect(crc32c(data.subarray(split), crc32c(data.subarray(0, split)))).to.equal(whole);
      }
    });

    it('agrees with a JS table implementation on 1 MiB of random data, at every alignment', () => {
      const data = crypto.randomBytes(1 << 20);
      expect(crc32c(data)).to.equal(referenceCrc32c(data));
      for (let start = 0; start < 16; start++) {
        const part = data.subarray(start, start + 1000 + start);
        expect(crc32c(part, 0xdeadbeef)).to.equal(referenceCrc32c(part, 0xdeadbeef));
      }
    });

    it('agrees with a JS table implementation around the lengths where three chains take over (3 x 256 B, 3 x 8 KiB)', () => {
      const data = crypto.randomBytes(4 * 3 * 8192);
      for (const edge of [3 * 256, 2 * 3 * 256, 3 * 8192, 3 * 8192 + 3 * 256, 2 * 3 * 8192]) {
        for (const length of [edge - 8, edge - 1, edge, edge + 1, edge + 8]) {
          const part = data.subarray(3, 3 + length);
          expect(crc32c(part, 0x9e3779b9), `length ${length}`).to.equal(referenceCrc32c(part, 0x9e3779b9));
        }
      }
    });

    it('rejects a non-Buffer and a bad initial value', () => {
      expect(thrown(() => crc32c('abc' as unknown as Buffer)).code).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(thrown(() => crc32c(Buffer.alloc(1), -1)).code).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(thrown(() => crc32c(Buffer.alloc(1), 2 ** 32)).code).to.equal(ErrorCode.INVALID_ARGUMENT);
    });
  });

  describe('cpuFeatures', () => {
    it('reports booleans, and cache-line mappings flush with the best instruction offered', () => {
      const features = cpuFeatures();
      for (const key of ['clwb', 'clflushopt', 'sse42'] as const) expect(features[key]).to.be.a('boolean');
      const file = path.join(dirs.make('cpu', SHM_BASE), 'pool');
      const mapping = openMapping(file, { create: true, size: 4096, granularity: 'cache-line' });
      const expected = features.clwb ? 'clwb' : features.clflushopt ? 'clflushopt' : 'clflush';
      expect(mapping.flushInstruction).to.equal(expected);
      return mapping.close();
    });
  });

  const layouts: { granularity: Granularity; base: string }[] = [
    { granularity: 'cache-line', base: SHM_BASE },
    { granularity: 'page', base: os.tmpdir() },
  ];

  for (const { granularity, base } of layouts) {
    describe(`${granularity} granularity (${base})`, () => {
      let dir: string;
      let file: string;
      let mapping: NativePoolMapping;
      let poolCount = 0;

      before(() => {
        dir = dirs.make(granularity, base);
      });

      beforeEach(() => {
        file = path.join(dir, `pool-${poolCount++}`);
        mapping = openMapping(file, { create: true, size: POOL_BYTES, granularity });
      });

      afterEach(() => mapping.close());

      it('reports its attributes', () => {
        expect(mapping.path).to.equal(file);
        expect(mapping.size).to.equal(POOL_BYTES);
        expect(mapping.granularity).to.equal(granularity);
        expect(mapping.isPmem).to.be.a('boolean');
        expect(mapping.readOnly).to.equal(false);
        expect(mapping.failed).to.equal(false);
        expect(fs.statSync(file).size).to.equal(POOL_BYTES);
        expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
      });

      it("resolves 'auto' by whether MAP_SYNC succeeded", async () => {
        await mapping.close();
        mapping = openMapping(file, { granularity: 'auto' });
        expect(mapping.granularity).to.equal(mapping.isPmem ? 'cache-line' : 'page');
      });

      for (const deep of [false, true]) {
        it(`round-trips a batch of random ranges and a trailer (deep ${deep})`, async () => {
          const random = prng(deep ? 2 : 1);
          const { offsets, datas, expected } = randomRanges(random, 300);
          const trailer = crypto.randomBytes(128);
          trailer.copy(expected, 4096);

          await mapping.writeBatch(offsets, datas, 4096, trailer, deep);

          expect(mapping.read(0, POOL_BYTES).equals(expected)).to.equal(true);
          expect(fs.readFileSync(file).equals(expected)).to.equal(true);
          expect(mapping.buffer().equals(expected)).to.equal(true);
          expect(mapping.read(4096, 128).equals(trailer)).to.equal(true);
        });
      }

      for (const deep of [false, true]) {
        it(`writePacked round-trips many ranges cut from one source at arbitrary positions, and a trailer (deep ${deep})`, async () => {
          const random = prng(deep ? 4 : 3);
          const { offsets, datas, expected } = randomRanges(random, 500);
          const { source, plan } = packRanges(offsets, datas, random);
          const trailer = crypto.randomBytes(128);
          trailer.copy(expected, 4096);

          const written = mapping.writePacked(source, plan, 4096, trailer, deep);
          plan.fill(-1); // the plan is copied during the call; reusing it at once is allowed
          await written;

          expect(mapping.read(0, POOL_BYTES).equals(expected)).to.equal(true);
          expect(fs.readFileSync(file).equals(expected)).to.equal(true);
        });
      }

      it('writePacked takes ranges from a source with a byte offset, overlapping ranges, a trailer alone and an empty plan', async () => {
        const backing = crypto.randomBytes(1000);
        const source = backing.subarray(333, 777); // a view: positions are relative to the view
        const plan = new Float64Array([8192, 0, 100, 9000, 50, 100, 10_000, 443, 1]);
        await mapping.writePacked(source, plan, 100, Buffer.from('trailer'), false);
        const onDisk = fs.readFileSync(file);
        expect(onDisk.subarray(8192, 8292).equals(source.subarray(0, 100))).to.equal(true);
        expect(onDisk.subarray(9000, 9100).equals(source.subarray(50, 150))).to.equal(true);
        expect(onDisk[10_000]).to.equal(source[443]);
        expect(onDisk.subarray(100, 107).toString()).to.equal('trailer');
        await mapping.writePacked(Buffer.alloc(0), new Float64Array(0), 200, Buffer.from('alone'), false);
        await mapping.writePacked(Buffer.alloc(0), new Float64Array(0), 0, null, false);
        expect(fs.readFileSync(file).subarray(200, 205).toString()).to.equal('alone');
      });

      it('benchWritePacked (bench only) runs the plan batch by batch, each trailer in its turn of the two slots, then stops at maxBatches', () => {
        const source = crypto.randomBytes(300);
        const rangeAt = (k: number, j: number): number => 8192 + k * 4096 + j * 1000;
        const plan = new Float64Array(4 * 2 * 3);
        for (let k = 0; k < 4; k++) {
          for (let j = 0; j < 2; j++) plan.set([rangeAt(k, j), k * 50 + j * 10, 20], (k * 2 + j) * 3);
        }
        const trailer = crypto.randomBytes(64);
        const before = fs.readFileSync(file);
        const latencies = new Float64Array(3).fill(-1);

        const { batches, ns } = mapping.benchWritePacked(source, plan, 100, trailer, false, 2, 2048, 3, 60_000, latencies);

        expect(batches).to.equal(3);
        expect(ns).to.be.greaterThan(0).and.lessThan(60e9);
        const onDisk = fs.readFileSync(file);
        for (let k = 0; k < 3; k++) {
          for (let j = 0; j < 2; j++) {
            expect(
              onDisk.subarray(rangeAt(k, j), rangeAt(k, j) + 20).equals(source.subarray(k * 50 + j * 10, k * 50 + j * 10 + 20)),
            ).to.equal(true);
          }
          expect(latencies[k]).to.be.greaterThan(0).and.at.most(ns);
        }
        // batch 3 is past maxBatches: its ranges still hold what was there before
        expect(onDisk.subarray(rangeAt(3, 0), rangeAt(3, 1) + 20).equals(before.subarray(rangeAt(3, 0), rangeAt(3, 1) + 20))).to.equal(
          true,
        );
        expect(onDisk.subarray(100, 164).equals(trailer)).to.equal(true);
        expect(onDisk.subarray(2148, 2212).equals(trailer)).to.equal(true);
        expect(thrown(() => mapping.benchWritePacked(source, plan, 100, trailer, false, 3, 2048, 1, 1000, null)).code).to.equal(
          ErrorCode.INVALID_ARGUMENT,
        );
      });

      it('writePacked refuses every bad range with the code writeBatch uses, writing nothing', async () => {
        const source = crypto.randomBytes(256);
        const good = [4096, 0, 16];
        // each bad triple comes after a good one: nothing of the call may land
        const after = (...triple: number[]): Float64Array => new Float64Array([...good, ...triple]);
        const cases: [string, unknown, unknown, ErrorCode][] = [
          ['plan length not a multiple of 3', source, after(0), ErrorCode.INVALID_ARGUMENT],
          ['plan a Uint32Array', source, new Uint32Array(good), ErrorCode.INVALID_ARGUMENT],
          ['plan an array', source, good, ErrorCode.INVALID_ARGUMENT],
          ['source not a Buffer', 'x', new Float64Array(good), ErrorCode.INVALID_ARGUMENT],
          ['length 0', source, after(0, 0, 0), ErrorCode.INVALID_ARGUMENT],
          ['NaN offset', source, after(Number.NaN, 0, 1), ErrorCode.INVALID_ARGUMENT],
          ['non-integer start', source, after(0, 0.5, 1), ErrorCode.INVALID_ARGUMENT],
          ['infinite length', source, after(0, 0, Infinity), ErrorCode.INVALID_ARGUMENT],
          ['negative offset', source, after(-1, 0, 1), ErrorCode.OUT_OF_RANGE],
          ['negative start', source, after(0, -1, 1), ErrorCode.OUT_OF_RANGE],
          ['negative length', source, after(0, 0, -1), ErrorCode.OUT_OF_RANGE],
          ['offset 2^64', source, after(2 ** 64, 0, 1), ErrorCode.OUT_OF_RANGE],
          ['offset past MAX_SAFE_INTEGER', source, after(Number.MAX_SAFE_INTEGER + 1, 0, 1), ErrorCode.OUT_OF_RANGE],
          ['offset MAX_SAFE_INTEGER', source, after(Number.MAX_SAFE_INTEGER, 0, 1), ErrorCode.OUT_OF_RANGE],
          ['past the pool end', source, after(POOL_BYTES - 1, 0, 2), ErrorCode.OUT_OF_RANGE],
          ['past the source end', source, after(0, 250, 7), ErrorCode.OUT_OF_RANGE],
          ['start past the source', source, after(0, 257, 1), ErrorCode.OUT_OF_RANGE],
          ['start + length overflowing', source, after(0, 8, Number.MAX_SAFE_INTEGER), ErrorCode.OUT_OF_RANGE],
          ['larger than the pool and the source', source, after(0, 0, POOL_BYTES + 1), ErrorCode.OUT_OF_RANGE],
        ];
        for (const [label, src, plan, code] of cases) {
          const err = await rejection(mapping.writePacked(src as Buffer, plan as Float64Array, 0, null, false));
          expect(err.code, label).to.equal(code);
        }
        const outside = await rejection(mapping.writePacked(source, new Float64Array([POOL_BYTES - 1, 0, 2]), 0, null, false));
        expect(outside.message)
          .to.include(file)
          .and.include(String(POOL_BYTES - 1));
        expect((await rejection(mapping.writePacked(source, new Float64Array([0, 250, 7]), 0, null, false))).message).to.include('source');
        expect((await rejection(mapping.writePacked(source, new Float64Array([...good, 0, 1.5, 1]), 0, null, false))).message).to.include(
          'plan[4]',
        );
        // the trailer and deep are checked exactly as writeBatch checks them
        const tail: [unknown, unknown, unknown, ErrorCode][] = [
          [-1, Buffer.from('t'), false, ErrorCode.OUT_OF_RANGE],
          [POOL_BYTES, Buffer.from('t'), false, ErrorCode.OUT_OF_RANGE],
          [0, Buffer.alloc(0), false, ErrorCode.INVALID_ARGUMENT],
          [0.5, Buffer.from('t'), false, ErrorCode.INVALID_ARGUMENT],
          [0, 'x', false, ErrorCode.INVALID_ARGUMENT],
          [0, null, 'no', ErrorCode.INVALID_ARGUMENT],
        ];
        for (const [offset, data, deep, code] of tail) {
          const packed = await rejection(
            mapping.writePacked(source, new Float64Array(good), offset as number, data as Buffer, deep as boolean),
          );
          const batch = await rejection(
            mapping.writeBatch([4096], [source.subarray(0, 16)], offset as number, data as Buffer, deep as boolean),
          );
          expect([packed.code, batch.code], `trailer ${String(offset)} ${String(data)} deep ${String(deep)}`).to.deep.equal([code, code]);
        }
        expect(fs.readFileSync(file).equals(Buffer.alloc(POOL_BYTES))).to.equal(true);
        expect(mapping.failed).to.equal(false);
      });

      it('writePacked fails the call and then the mapping when a sync fails, like writeBatch', async () => {
        const source = Buffer.from('lost?hdr');
        mapping.failNextSync(EIO);
        const failure = await rejection(mapping.writePacked(source, new Float64Array([200_000, 0, 5]), 300_000, source.subarray(5), false));
        expect([failure.code, failure.errno]).to.deep.equal([ErrorCode.IO, EIO]);
        expect(mapping.failed).to.equal(true);
        expect((await rejection(mapping.writePacked(source, new Float64Array([0, 0, 1]), 0, null, false))).code).to.equal(ErrorCode.FAILED);
        await mapping.close();
        expect((await rejection(mapping.writePacked(source, new Float64Array([0, 0, 1]), 0, null, false))).code).to.equal(ErrorCode.CLOSED);
      });

      it('writes a trailer alone, and accepts an empty batch', async () => {
        await mapping.writeBatch([], [], 100, Buffer.from('trailer-only'), false);
        await mapping.writeBatch([], [], 0, null, false);
        expect(fs.readFileSync(file).subarray(100, 112).toString()).to.equal('trailer-only');
      });

      for (const deep of [false, true]) {
        it(`persists what was stored through buffer() (deep ${deep})`, async () => {
          const view = mapping.buffer();
          expect(view.length).to.equal(POOL_BYTES);
          const data = crypto.randomBytes(10_000);
          data.copy(view, 70_001);
          await mapping.persist(70_001, data.length, deep);
          expect(fs.readFileSync(file).subarray(70_001, 80_001).equals(data)).to.equal(true);
          expect(mapping.read(70_001, data.length).equals(data)).to.equal(true);
        });
      }

      it('refuses ranges outside the file with OUT_OF_RANGE', async () => {
        const one = Buffer.from('x');
        for (const [offset, length] of [
          [POOL_BYTES, 1],
          [POOL_BYTES - 1, 2],
          [1, POOL_BYTES],
          [Number.MAX_SAFE_INTEGER, 1],
          [1, Number.MAX_SAFE_INTEGER],
          [-1, 1],
          [0, -1],
          [2 ** 64, 1],
        ]) {
          expect(thrown(() => mapping.read(offset, length)).code, `read ${offset} ${length}`).to.equal(ErrorCode.OUT_OF_RANGE);
          expect((await rejection(mapping.persist(offset, length, false))).code).to.equal(ErrorCode.OUT_OF_RANGE);
        }
        for (const offset of [POOL_BYTES, -1, Number.MAX_SAFE_INTEGER]) {
          expect((await rejection(mapping.writeBatch([0, offset], [one, one], 0, null, false))).code).to.equal(ErrorCode.OUT_OF_RANGE);
          expect((await rejection(mapping.writeBatch([0], [one], offset, one, false))).code).to.equal(ErrorCode.OUT_OF_RANGE);
        }
        const outside = await rejection(mapping.writeBatch([POOL_BYTES - 1], [Buffer.alloc(2)], 0, null, false));
        expect(outside.message)
          .to.include(file)
          .and.include(String(POOL_BYTES - 1));
        expect(mapping.read(POOL_BYTES, 0).length).to.equal(0);
        expect(mapping.read(0, POOL_BYTES).length).to.equal(POOL_BYTES);
        expect(mapping.failed).to.equal(false);
      });

      it('refuses malformed arguments with INVALID_ARGUMENT', async () => {
        const one = Buffer.from('x');
        const invalid = [
          mapping.writeBatch([0], [Buffer.alloc(0)], 0, null, false),
          mapping.writeBatch([0, 1], [one], 0, null, false),
          mapping.writeBatch([1.5], [one], 0, null, false),
          mapping.writeBatch([0], ['x' as unknown as Buffer], 0, null, false),
          mapping.writeBatch([0], [one], 0, Buffer.alloc(0), false),
          mapping.persist(0, 0, false),
          mapping.persist(Number.NaN, 1, false),
        ];
        for (const promise of invalid) expect((await rejection(promise)).code).to.equal(ErrorCode.INVALID_ARGUMENT);
        expect(thrown(() => mapping.read('0' as unknown as number, 1)).code).to.equal(ErrorCode.INVALID_ARGUMENT);
        expect(thrown(() => mapping.failNextSync(0)).code).to.equal(ErrorCode.INVALID_ARGUMENT);
      });

      it('fails the call and then the mapping when a sync fails (failNextSync)', async () => {
        const before = crypto.randomBytes(5000);
        await mapping.writeBatch([10_000], [before], 0, null, false);

        mapping.failNextSync(EIO);
        const failure = await rejection(mapping.writeBatch([200_000], [Buffer.from('lost?')], 300_000, Buffer.from('hdr'), false));
        expect(failure.code).to.equal(ErrorCode.IO);
        expect(failure.errno).to.equal(EIO);
        expect(failure.message).to.include(file);
        expect(mapping.failed).to.equal(true);

        const later = await rejection(mapping.writeBatch([0], [Buffer.from('x')], 0, null, false));
        expect(later.code).to.equal(ErrorCode.FAILED);
        expect((await rejection(mapping.persist(0, 1, false))).code).to.equal(ErrorCode.FAILED);
        if (granularity === 'cache-line') {
          // The data fence failed, so the trailer was never stored (I2). On page granularity it was
          // pwritten before the one fdatasync that failed: in the page cache, but never acked.
          expect(fs.readFileSync(file).subarray(300_000, 300_003).equals(Buffer.alloc(3))).to.equal(true);
        }
        expect(fs.readFileSync(file).subarray(10_000, 15_000).equals(before)).to.equal(true);
        expect(mapping.read(10_000, 5000).equals(before)).to.equal(true);
        await mapping.close();
        expect(mapping.failed).to.equal(true);
      });

      it('fails persist() on an injected sync failure too', async () => {
        mapping.failNextSync(EIO);
        const failure = await rejection(mapping.persist(4096, 64, false));
        expect(failure.code).to.equal(ErrorCode.IO);
        expect(failure.errno).to.equal(EIO);
        expect((await rejection(mapping.persist(4096, 64, false))).code).to.equal(ErrorCode.FAILED);
      });

      it('close() waits for a large in-flight batch, then later calls reject CLOSED', async () => {
        await mapping.close();
        const bigFile = path.join(dir, `big-${poolCount++}`);
        const bigBytes = 64 << 20;
        mapping = openMapping(bigFile, { create: true, size: bigBytes, granularity });
        const data = crypto.randomBytes(bigBytes - 4096);
        const trailer = Buffer.from('trailer after the big batch');
        const events: string[] = [];

        const small = Buffer.from('a second batch in flight');
        mapping.buffer().write('stored through the view', 1024);

        const work = [
          mapping.writeBatch([4096], [data], 0, trailer, false).then(() => events.push('batch')),
          mapping.writeBatch([2048], [small], 0, null, false).then(() => events.push('small batch')),
          mapping.persist(1024, 64, false).then(() => events.push('persist')),
        ];
        const closing = mapping.close().then(() => events.push('close'));
        const closingAgain = mapping.close().then(() => events.push('close again'));
        const refused = await rejection(mapping.writeBatch([0], [Buffer.from('x')], 0, null, false));
        expect(refused.code).to.equal(ErrorCode.CLOSED);
        await Promise.all([...work, closing, closingAgain]);

        // Workers finish in any order, but close() resolves only after all of them.
        expect(events.slice(0, 3)).to.have.members(['batch', 'small batch', 'persist']);
        expect(events.slice(3)).to.deep.equal(['close', 'close again']);
        const onDisk = fs.readFileSync(bigFile);
        expect(onDisk.subarray(4096).equals(data)).to.equal(true);
        expect(onDisk.subarray(0, trailer.length).equals(trailer)).to.equal(true);
        expect(onDisk.subarray(2048, 2048 + small.length).equals(small)).to.equal(true);
        expect(onDisk.subarray(1024, 1047).toString()).to.equal('stored through the view');
        expect((await rejection(mapping.writeBatch([0], [Buffer.from('x')], 0, null, false))).code).to.equal(ErrorCode.CLOSED);
        expect((await rejection(mapping.persist(0, 1, false))).code).to.equal(ErrorCode.CLOSED);
        expect(thrown(() => mapping.read(0, 1)).code).to.equal(ErrorCode.CLOSED);
        expect(thrown(() => mapping.buffer()).code).to.equal(ErrorCode.CLOSED);
        expect(thrown(() => mapping.failNextSync(EIO)).code).to.equal(ErrorCode.CLOSED);
        await mapping.close();
        expect(mapping.path).to.equal(bigFile);
        expect(mapping.size).to.equal(bigBytes);
        // The lock went with the close.
        mapping = openMapping(bigFile, { granularity });
      });

      it('rejects CLOSED, without writing, when an array getter closes the mapping mid-call', async () => {
        const datas = [Buffer.from('first')];
        let closing: Promise<void> | undefined;
        Object.defineProperty(datas, 1, {
          enumerable: true,
          get: () => {
            closing = mapping.close();
            return Buffer.from('second');
          },
        });
        const refused = await rejection(mapping.writeBatch([0, 4096], datas, 0, null, false));
        expect(refused.code).to.equal(ErrorCode.CLOSED);
        await closing;
        expect(fs.readFileSync(file).subarray(0, 5).equals(Buffer.alloc(5))).to.equal(true);
      });

      it('keeps a buffer() view safe after close, detached from the file', async () => {
        const view = mapping.buffer();
        view.write('written before close', 0);
        await mapping.persist(0, 64, false);
        await mapping.close();
        const onDisk = fs.readFileSync(file);

        view.fill(0xab, 0, 8192);
        view[POOL_BYTES - 1] = 1;
        expect(view[0]).to.equal(0xab);
        expect(view.length).to.equal(POOL_BYTES);

        expect(fs.readFileSync(file).equals(onDisk)).to.equal(true);
        expect(onDisk.subarray(0, 20).toString()).to.equal('written before close');
        mapping = openMapping(file, { granularity });
        expect(mapping.read(0, 20).toString()).to.equal('written before close');
      });
    });
  }

  describe(`inline writes (cache-line, not deep, under INLINE_MAX_BYTES = ${INLINE_MAX_BYTES})`, () => {
    let dir: string;
    let count = 0;
    before(() => {
      dir = dirs.make('inline', SHM_BASE);
    });

    function open(granularity: Granularity = 'cache-line', size = POOL_BYTES): { file: string; mapping: NativePoolMapping } {
      const file = path.join(dir, `pool-${count++}`);
      return { file, mapping: openMapping(file, { create: true, size, granularity }) };
    }

    /**
     * Closes `mapping` and reports whether a worker still holds its file. A worker can only report
     * back on a later turn of the event loop, so an open in this same turn is refused (BUSY) exactly
     * when the last call went to a worker, and succeeds when it ran inline.
     */
    async function closeAndCheckWorker(mapping: NativePoolMapping, file: string): Promise<boolean> {
      const closing = mapping.close();
      let held = false;
      try {
        openMapping(file, {}).close();
      } catch (err) {
        expect(wrapNative(err).code).to.equal(ErrorCode.BUSY);
        held = true;
      }
      await closing;
      return held;
    }

    /** The file's bytes through a fresh mapping and through fs, which must agree. */
    async function onDisk(file: string, offset: number, length: number): Promise<Buffer> {
      const fresh = openMapping(file, { readOnly: true });
      const bytes = fresh.read(offset, length);
      await fresh.close();
      expect(
        fs
          .readFileSync(file)
          .subarray(offset, offset + length)
          .equals(bytes),
      ).to.equal(true);
      return bytes;
    }

    for (const [label, total, inline] of [
      ['just under', INLINE_MAX_BYTES - 1, true],
      ['at', INLINE_MAX_BYTES, false],
      ['just over', INLINE_MAX_BYTES + 1, false],
    ] as const) {
      for (const api of ['writeBatch', 'writePacked'] as const) {
        it(`${api} of ${label} the threshold in total (trailer included) runs ${inline ? 'inline' : 'on a worker'}`, async () => {
          const { file, mapping } = open();
          const trailer = crypto.randomBytes(64);
          const datas = [crypto.randomBytes(1000), crypto.randomBytes(total - 1000 - trailer.length)];
          const offsets = [8192, 8192 + 4096];
          const packed = packRanges(offsets, datas, prng(5));
          const written =
            api === 'writeBatch'
              ? mapping.writeBatch(offsets, datas, 0, trailer, false)
              : mapping.writePacked(packed.source, packed.plan, 0, trailer, false);
          // a worker may or may not have copied yet; inline, the data is there when the call returns
          if (inline) expect(mapping.read(offsets[0], 1000).equals(datas[0]), 'stored before the call returned').to.equal(true);
          expect(await closeAndCheckWorker(mapping, file)).to.equal(!inline);
          await written;
          expect((await onDisk(file, offsets[0], 1000)).equals(datas[0])).to.equal(true);
          expect((await onDisk(file, offsets[1], datas[1].length)).equals(datas[1])).to.equal(true);
          expect((await onDisk(file, 0, trailer.length)).equals(trailer)).to.equal(true);
        });
      }

      it(`persist of ${label} the threshold runs ${inline ? 'inline' : 'on a worker'}`, async () => {
        const { file, mapping } = open();
        const data = crypto.randomBytes(total);
        data.copy(mapping.buffer(), 4096);
        const persisted = mapping.persist(4096, total, false);
        expect(await closeAndCheckWorker(mapping, file)).to.equal(!inline);
        await persisted;
        expect((await onDisk(file, 4096, total)).equals(data)).to.equal(true);
      });
    }

    it('keeps deep calls and page granularity on a worker, however small', async () => {
      const small = Buffer.from('small');
      for (const [granularity, deep] of [
        ['cache-line', true],
        ['page', false],
      ] as const) {
        for (const api of ['writeBatch', 'writePacked'] as const) {
          const { file, mapping } = open(granularity);
          const written =
            api === 'writeBatch'
              ? mapping.writeBatch([64], [small], 0, null, deep)
              : mapping.writePacked(small, new Float64Array([64, 0, small.length]), 0, null, deep);
          expect(await closeAndCheckWorker(mapping, file), `${api} ${granularity} deep ${deep}`).to.equal(true);
          await written;
          expect((await onDisk(file, 64, small.length)).equals(small)).to.equal(true);
        }
      }
    });

    it('rejects (never throws) with the same codes inline', async () => {
      const { mapping } = open();
      const one = Buffer.from('x');
      const calls: [() => Promise<void>, ErrorCode][] = [
        [() => mapping.writeBatch([POOL_BYTES], [one], 0, null, false), ErrorCode.OUT_OF_RANGE],
        [() => mapping.writeBatch([0], [one], -1, one, false), ErrorCode.OUT_OF_RANGE],
        [() => mapping.persist(POOL_BYTES - 1, 2, false), ErrorCode.OUT_OF_RANGE],
        [() => mapping.writeBatch(['0' as unknown as number], [one], 0, null, false), ErrorCode.INVALID_ARGUMENT],
        [() => mapping.writeBatch([0], [one], 0, 'x' as unknown as Buffer, false), ErrorCode.INVALID_ARGUMENT],
        [() => mapping.writeBatch([0], [one], 0, null, 'no' as unknown as boolean), ErrorCode.INVALID_ARGUMENT],
        [() => mapping.persist(0, 1, 1 as unknown as boolean), ErrorCode.INVALID_ARGUMENT],
      ];
      for (const [call, code] of calls) {
        const promise = call();
        expect(promise).to.be.instanceOf(Promise);
        expect((await rejection(promise)).code).to.equal(code);
      }

      mapping.failNextSync(EIO);
      const failure = await rejection(mapping.writeBatch([0], [one], 64, one, false));
      expect([failure.code, failure.errno]).to.deep.equal([ErrorCode.IO, EIO]);
      expect(mapping.failed).to.equal(true);
      expect((await rejection(mapping.writeBatch([0], [one], 0, null, false))).code).to.equal(ErrorCode.FAILED);
      expect((await rejection(mapping.persist(0, 1, false))).code).to.equal(ErrorCode.FAILED);

      await mapping.close();
      expect((await rejection(mapping.writeBatch([0], [one], 0, null, false))).code).to.equal(ErrorCode.CLOSED);
      expect((await rejection(mapping.persist(0, 1, false))).code).to.equal(ErrorCode.CLOSED);
    });

    for (const api of ['writeBatch', 'writePacked'] as const) {
      it(`never crashes when inline and worker ${api} calls race close(); each either lands or rejects CLOSED`, async () => {
        const random = prng(api === 'writeBatch' ? 11 : 12);
        const slotBytes = INLINE_MAX_BYTES * 2;
        for (let round = 0; round < 20; round++) {
          const { file, mapping } = open('cache-line', 12 * slotBytes);
          const writes: { offset: number; data: Buffer; done: Promise<string> }[] = [];
          const closeAt = Math.floor(random(12));
          let closing: Promise<void> = Promise.resolve();
          for (let i = 0; i < 12; i++) {
            if (i === closeAt) closing = mapping.close();
            const big = random(4) < 1;
            const data = crypto.randomBytes(big ? slotBytes : 1 + Math.floor(random(8192)));
            const offset = i * slotBytes;
            // writePacked cuts the range from a larger source that is dropped at once: only the worker's reference keeps it
            const written =
              api === 'writeBatch'
                ? mapping.writeBatch([offset], [data], 0, null, false)
                : mapping.writePacked(Buffer.concat([Buffer.alloc(3), data]), new Float64Array([offset, 3, data.length]), 0, null, false);
            const done = written.then(
              () => 'ok',
              (err: unknown) => wrapNative(err).code,
            );
            writes.push({ offset, data, done });
            if (random(3) < 1) await new Promise((resolve) => setImmediate(resolve));
          }
          await closing;
          const outcomes = await Promise.all(writes.map((w) => w.done));
          expect(outcomes.slice(0, closeAt)).to.satisfy((o: string[]) => o.every((x) => x === 'ok'));
          expect(outcomes.slice(closeAt)).to.satisfy((o: string[]) => o.every((x) => x === ErrorCode.CLOSED));
          const bytes = fs.readFileSync(file);
          for (const w of writes.slice(0, closeAt))
            expect(bytes.subarray(w.offset, w.offset + w.data.length).equals(w.data)).to.equal(true);
        }
      });
    }
  });

  describe('opening and creating', () => {
    let dir: string;
    before(() => {
      dir = dirs.make('open');
    });

    it('refuses to create over an existing file (EXISTS) and to open a missing one (NO_POOL)', async () => {
      const file = path.join(dir, 'exists');
      const mapping = openMapping(file, { create: true, size: 4096 });
      await mapping.close();
      const exists = thrown(() => openMapping(file, { create: true, size: 4096 }));
      expect(exists).to.be.instanceOf(RpmemError);
      expect(exists.code).to.equal(ErrorCode.EXISTS);
      expect(exists.errno).to.equal(os.constants.errno.EEXIST);
      expect(exists.message).to.include(file);
      const missing = thrown(() => openMapping(path.join(dir, 'missing'), {}));
      expect(missing.code).to.equal(ErrorCode.NO_POOL);
      expect(missing.errno).to.equal(os.constants.errno.ENOENT);
    });

    it('refuses bad options with INVALID_ARGUMENT and leaves no file behind', () => {
      const file = path.join(dir, 'bad-options');
      for (const options of [
        { create: true, size: 0 },
        { create: true },
        { create: true, size: -4096 },
        { create: true, size: 4096, readOnly: true },
        { create: true, size: 4096, granularity: 'byte' as never },
      ]) {
        expect(thrown(() => openMapping(file, options)).code, JSON.stringify(options)).to.equal(ErrorCode.INVALID_ARGUMENT);
      }
      expect(fs.existsSync(file)).to.equal(false);
      fs.writeFileSync(file, '');
      expect(thrown(() => openMapping(file, {})).code).to.equal(ErrorCode.INVALID_ARGUMENT);
    });

    it('reports LIMIT when the file cannot be allocated, and removes the partial file', () => {
      const file = path.join(dir, 'huge');
      const error = thrown(() => openMapping(file, { create: true, size: 2 ** 50 }));
      expect(error.code).to.equal(ErrorCode.LIMIT);
      expect([os.constants.errno.EFBIG, os.constants.errno.ENOSPC]).to.include(error.errno);
      expect(fs.existsSync(file)).to.equal(false);
    });
  });

  describe('locking', () => {
    let dir: string;
    before(() => {
      dir = dirs.make('lock');
    });

    it('is exclusive within the process and across processes, until close', async () => {
      const file = path.join(dir, 'exclusive');
      const mapping = openMapping(file, { create: true, size: 4096 });
      const busy = thrown(() => openMapping(file, {}));
      expect(busy.code).to.equal(ErrorCode.BUSY);
      expect(busy.message).to.include(file).and.include('locked by another process');
      expect(thrown(() => openMapping(file, { readOnly: true })).code).to.equal(ErrorCode.BUSY);
      expect(openInChild(file)).to.equal(ErrorCode.BUSY);
      await mapping.close();
      expect(openInChild(file)).to.equal('OPENED');
      await openMapping(file, {}).close();
    });

    it('shares a read-only mapping between readers, refuses writes through it and a writer beside it', async () => {
      const file = path.join(dir, 'read-only');
      const writer = openMapping(file, { create: true, size: 8192 });
      await writer.writeBatch([100], [Buffer.from('readable')], 0, null, false);
      await writer.close();

      const reader = openMapping(file, { readOnly: true });
      const second = openMapping(file, { readOnly: true });
      expect(reader.readOnly).to.equal(true);
      expect(reader.read(100, 8).toString()).to.equal('readable');
      expect(thrown(() => openMapping(file, {})).code).to.equal(ErrorCode.BUSY);
      expect(openInChild(file)).to.equal(ErrorCode.BUSY);

      const write = await rejection(reader.writeBatch([0], [Buffer.from('x')], 0, null, false));
      expect(write.code).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(write.message).to.include('read-only');
      expect((await rejection(reader.persist(0, 1, false))).message).to.include('read-only');
      expect(thrown(() => reader.buffer()).message).to.include('read-only');
      expect(fs.readFileSync(file)[0]).to.equal(0);
      await Promise.all([reader.close(), second.close()]);
      await openMapping(file, {}).close();
    });
  });

  describe('teardown without close()', () => {
    let dir: string;
    before(() => {
      dir = dirs.make('teardown');
    });

    it('GC of an unclosed mapping releases the lock and detaches its views (node --expose-gc child)', async () => {
      const file = path.join(dir, 'gc');
      await openMapping(file, { create: true, size: 8192 }).close();
      const script = `
        const { openMapping } = require(process.argv[1]);
        const file = process.argv[2];
        async function main() {
          let mapping = openMapping(file, {});
          await mapping.writeBatch([0], [Buffer.from('kept')], 0, null, false);
          const view = mapping.buffer();
          mapping = null;
          let released = false;
          for (let attempt = 0; attempt < 50 && !released; attempt++) {
            global.gc();
            await new Promise((resolve) => setImmediate(resolve));
            try {
              await openMapping(file, {}).close();
              released = true;
            } catch (err) {
              if (err.code !== 'RPMEM_E_BUSY') throw err;
            }
          }
          view.write('gone', 0); // the view outlived its mapping: no crash, and not the file
          process.send({ released, viewReads: view.toString('utf8', 0, 4) });
        }
        process.once('message', () => process.exit(0));
        main().catch((err) => { console.error(err); process.exit(1); });`;
      const child = spawn(process.execPath, ['--expose-gc', '-e', script, NATIVE_JS, file], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const report = await new Promise<{ released: boolean; viewReads: string }>((resolve, reject) => {
        child.once('message', (message) => resolve(message as { released: boolean; viewReads: string }));
        child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      });
      expect(report).to.deep.equal({ released: true, viewReads: 'gone' });
      // The child is still alive here: its lock must be gone already, not merely by its exit.
      const mapping = openMapping(file, {});
      expect(mapping.read(0, 4).toString()).to.equal('kept');
      await mapping.close();
      child.send('done');
      expect(await exited).to.equal(0);
    });

    /**
     * Blocks every libuv threadpool thread of this process in a read of an empty FIFO until
     * release(): work queued meanwhile (a worker thread's batch) cannot even start.
     */
    function holdThreadpool(fifo: string): { release(): Promise<void> } {
      spawnSync('mkfifo', [fifo]);
      // O_RDWR: the open itself does not wait for a writer; each read then waits for one byte.
      const fd = fs.openSync(fifo, 'r+');
      const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
      const reads = Array.from(
        { length: threads },
        () => new Promise<void>((resolve) => fs.read(fd, Buffer.alloc(1), 0, 1, null, () => resolve())),
      );
      return {
        async release(): Promise<void> {
          fs.writeSync(fd, Buffer.alloc(threads));
          await Promise.all(reads);
          fs.closeSync(fd);
        },
      };
    }

    // A pending batch keeps a worker's event loop alive, so that ending always comes after the batch
    // settled; process.exit() and terminate() end the worker with it still in flight.
    for (const [ending, inFlight] of [
      ['process.exit()', true],
      ['terminate()', true],
      ['an empty event loop', false],
    ] as const) {
      it(`releases the lock when a worker thread ends by ${ending} ${inFlight ? 'with a batch in flight' : 'after its batch settled'}`, async () => {
        const file = path.join(dir, `worker-${ending.replace(/\W/g, '')}`);
        await openMapping(file, { create: true, size: 8 << 20 }).close();
        const code = `
          const { parentPort, workerData } = require('worker_threads');
          const { openMapping } = require(workerData.nativeJs);
          const mapping = openMapping(workerData.file, {});
          mapping.writeBatch([0], [Buffer.alloc(8 << 20, 7)], 0, null, false).then(() => parentPort.postMessage('settled'));
          mapping.buffer();
          parentPort.postMessage('opened');
          if (workerData.ending === 'process.exit()') process.exit(0);
          if (workerData.ending === 'terminate()') setInterval(() => {}, 1000);`;
        // Held until the worker was told to end: its batch is queued behind the held threads.
        const pool = holdThreadpool(`${file}.fifo`);
        const worker = new Worker(code, { eval: true, workerData: { nativeJs: NATIVE_JS, file, ending } });
        const messages: string[] = [];
        worker.on('message', (m: string) => messages.push(m));
        const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
        await new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
        });
        // Not awaited: the worker's teardown waits for the held threadpool.
        const terminated = ending === 'terminate()' ? worker.terminate() : undefined;
        await pool.release();
        await exited;
        await terminated;
        expect(messages, 'settled is posted only if the batch completed before the worker ended').to.deep.equal(
          inFlight ? ['opened'] : ['opened', 'settled'],
        );
        const mapping = openMapping(file, {});
        expect(mapping.size).to.equal(8 << 20);
        await mapping.close();
      });
    }
  });
});
