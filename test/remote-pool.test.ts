/**
 * End to end through a real rpmemd: RemotePool's persist path in both granularities, compared
 * byte for byte via Read and via the pool file itself, plus the rest of the public API.
 */
import { expect } from 'chai';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { TestTarget } from './helpers/test-target';
import { stamp } from './helpers/stamps';

const RANGES = 10_000;
const MAX_RANGE = 64 * 1024;
const POOL_BYTES = 16 * 1024 * 1024;

/** A deterministic random source, so a failing run can be reproduced from its seed. */
function prng(seed: number): (max: number) => number {
  let s = seed >>> 0 || 1;
  return (max) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % max;
  };
}

for (const granularity of ['cache-line', 'page'] as const) {
  describe(`RemotePool end to end (${granularity})`, function () {
    let target: TestTarget;

    before(async () => {
      target = await TestTarget.start({ granularity });
    });

    after(async () => {
      await target.stop();
    });

    it(`persists ${RANGES} random ranges (1 B to 64 KiB) byte for byte`, async () => {
      const seed = Date.now() % 100000;
      const rand = prng(seed);
      const pool = await RemotePool.create(target.address, 'random', { size: POOL_BYTES });
      const mirror = Buffer.alloc(POOL_BYTES);
      const results = [];
      for (let i = 0; i < RANGES; i++) {
        const length = 1 + rand(MAX_RANGE);
        const offset = rand(POOL_BYTES - length + 1);
        const data = crypto.randomBytes(length);
        data.copy(mirror, offset);
        results.push(pool.persist(offset, data));
      }
      const acked = await Promise.all(results);
      expect(acked.map((r) => Number(r.seq))).to.deep.equal(Array.from({ length: RANGES }, (_, i) => i + 1));
      expect(acked.every((r) => r.granularity === granularity)).to.equal(true);
      expect(pool.durableSeq).to.equal(BigInt(RANGES));
      expect((await pool.read(0, POOL_BYTES)).equals(mirror), `seed ${seed}`).to.equal(true);
      await pool.close();
      const file = fs.readFileSync(target.poolPath('random'));
      expect(file.length).to.equal(HEADER_BYTES + POOL_BYTES);
      expect(file.subarray(HEADER_BYTES).equals(mirror), `seed ${seed}`).to.equal(true);
      const info = await RemotePool.stat(target.address, 'random');
      expect(info.durableSeq).to.equal(BigInt(RANGES));
      expect(info.open).to.equal(false);
    });

    it('continues sequence numbers across close and reopen', async () => {
      const first = await RemotePool.create(target.address, 'reopen', { size: 1 << 20 });
      await first.persist(0, Buffer.from('one'));
      await first.persist(3, Buffer.from('two'));
      await first.close();
      const second = await RemotePool.open(target.address, 'reopen');
      expect(second.durableSeq).to.equal(2n);
      expect((await second.persist(6, Buffer.from('three'))).seq).to.equal(3n);
      expect((await second.read(0, 11)).toString()).to.equal('onetwothree');
      await second.close();
    });

    it('flush sends without waiting and drain waits for all of it', async () => {
      const pool = await RemotePool.create(target.address, 'flush', { size: 1 << 20 });
      // Each range carries its own index in every 8 bytes, so a byte lost or misplaced anywhere shows.
      const mirror = Buffer.alloc(512 * 1000);
      for (let i = 0; i < 1000; i++) {
        const data = stamp(i).subarray(0, 512);
        data.copy(mirror, i * 512);
        pool.flush(i * 512, data);
      }
      await pool.drain();
      expect(pool.durableSeq).to.equal(1000n);
      expect((await pool.read(0, 512 * 1000)).equals(mirror)).to.equal(true);
      await pool.close();
    });

    it('deepPersist is acknowledged and durable', async () => {
      const pool = await RemotePool.create(target.address, 'deep', { size: 1 << 20 });
      const r = await pool.deepPersist(4000, Buffer.from('deep persist'));
      expect(r.granularity).to.equal(granularity);
      await pool.close();
      const file = fs.readFileSync(target.poolPath('deep'));
      expect(file.subarray(HEADER_BYTES + 4000, HEADER_BYTES + 4012).toString()).to.equal('deep persist');
    });

    it('honours a small in-flight window (backpressure) without losing order', async () => {
      const pool = await RemotePool.create(target.address, 'window', {
        size: 8 << 20,
        maxInflightBytes: 64 * 1024,
        maxMessageBytes: 16 * 1024,
      });
      const data = Array.from({ length: 2000 }, (_, i) => stamp(i));
      const results = await Promise.all(data.map((d, i) => pool.persist(i * 4096, d)));
      expect(results.map((r) => Number(r.seq))).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i + 1));
      expect((await pool.read(0, 2000 * 4096)).equals(Buffer.concat(data))).to.equal(true);
      await pool.close();
    });

    it('stores attributes durably and reports them', async () => {
      const signature = Buffer.from('RPMEMTST');
      const pool = await RemotePool.create(target.address, 'attrs', { size: 1 << 20, attr: { signature, major: 3 } });
      expect(pool.getAttr().signature.equals(signature)).to.equal(true);
      const userFlags = crypto.randomBytes(16);
      await pool.setAttr({ signature, major: 4, userFlags });
      expect(pool.getAttr().major).to.equal(4);
      await pool.close();
      const info = await RemotePool.stat(target.address, 'attrs');
      expect(info.attr.major).to.equal(4);
      expect(info.attr.userFlags.equals(userFlags)).to.equal(true);
      expect(info.attr.signature.equals(signature)).to.equal(true);
    });

    it('rejects bad ranges on the client before they reach the stream', async () => {
      const pool = await RemotePool.create(target.address, 'bounds', { size: 4096 });
      const codes = await Promise.all([
        pool.persist(4096, Buffer.from('x')).catch((e: RpmemError) => e.code),
        pool.persist(-1, Buffer.from('x')).catch((e: RpmemError) => e.code),
        pool.persist(0, Buffer.alloc(0)).catch((e: RpmemError) => e.code),
        pool.read(4000, 100).catch((e: RpmemError) => e.code),
      ]);
      expect(codes).to.deep.equal([ErrorCode.OUT_OF_RANGE, ErrorCode.OUT_OF_RANGE, ErrorCode.EMPTY_RANGE, ErrorCode.OUT_OF_RANGE]);
      expect((await pool.persist(4095, Buffer.from('z'))).seq).to.equal(1n);
      await pool.close();
      const err = await pool.persist(0, Buffer.from('x')).catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(ErrorCode.CLOSED);
    });

    it('removes a closed pool', async () => {
      const pool = await RemotePool.create(target.address, 'gone', { size: 4096 });
      await pool.close();
      await RemotePool.remove(target.address, 'gone');
      expect(fs.existsSync(target.poolPath('gone'))).to.equal(false);
      const err = await RemotePool.stat(target.address, 'gone').catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(ErrorCode.NO_POOL);
    });
  });
}
