/**
 * The initiator's local Pool: create and open a pool file, store through `buffer`, persist, and
 * find the bytes in the file; granularity selection and requirement; errors.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { ErrorCode } from '../src/storage/errors';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { Pool } from '../src/initiator/pool';
import { SHM_DIR, tempDir } from './helpers/setup';
import { rejection } from './helpers/rejection';

for (const granularity of ['cache-line', 'page'] as const) {
  describe(`local Pool (${granularity})`, () => {
    const dir = (): string => tempDir('pool', granularity === 'cache-line' ? SHM_DIR : undefined);

    it('persists stores made through buffer into the file', async () => {
      const file = path.join(dir(), 'local');
      const pool = await Pool.create(file, { size: 1 << 20, granularity });
      expect(pool.granularity).to.equal(granularity);
      expect(pool.buffer.length).to.equal(1 << 20);
      pool.buffer.write('hello pmem', 1000);
      await pool.persist(1000, 10);
      pool.buffer.fill(7, 500_000, 600_000);
      await pool.deepPersist(500_000, 100_000);
      expect(
        fs
          .readFileSync(file)
          .subarray(HEADER_BYTES + 1000, HEADER_BYTES + 1010)
          .toString(),
      ).to.equal('hello pmem');
      await pool.close();
      const again = await Pool.open(file, { granularity });
      expect(again.buffer.subarray(1000, 1010).toString()).to.equal('hello pmem');
      expect(again.buffer[599_999]).to.equal(7);
      expect(again.poolUuid.equals(pool.poolUuid)).to.equal(true);
      await again.close();
    });

    it('refuses ranges outside the data area and calls after close', async () => {
      const pool = await Pool.create(path.join(dir(), 'bounds'), { size: 4096, granularity });
      expect((await rejection(pool.persist(4000, 200))).code).to.equal(ErrorCode.OUT_OF_RANGE);
      expect((await rejection(pool.persist(0, 0))).code).to.equal(ErrorCode.EMPTY_RANGE);
      await pool.close();
      expect((await rejection(pool.persist(0, 1))).code).to.equal(ErrorCode.CLOSED);
    });
  });
}

describe('local Pool options', () => {
  it('fails to open when cache-line granularity is required but only page is available', async () => {
    const file = path.join(tempDir('pool'), 'req');
    await (await Pool.create(file, { size: 4096, granularity: 'page' })).close();
    const err = await rejection(Pool.open(file, { granularity: 'auto', requireGranularity: 'cache-line' }));
    expect(err.code).to.equal(ErrorCode.GRANULARITY);
    const ok = await Pool.open(file, { granularity: 'auto' });
    expect(ok.granularity).to.equal('page');
    await ok.close();
  });

  it('takes its granularity from RPMEM_FORCE_GRANULARITY when none is given', async () => {
    const file = path.join(tempDir('pool', SHM_DIR), 'env');
    process.env.RPMEM_FORCE_GRANULARITY = 'cache-line';
    try {
      const pool = await Pool.create(file, { size: 4096 });
      expect(pool.granularity).to.equal('cache-line');
      await pool.close();
    } finally {
      delete process.env.RPMEM_FORCE_GRANULARITY;
    }
  });

  it('refuses a second open of a pool file held by this process', async () => {
    const file = path.join(tempDir('pool'), 'locked');
    const pool = await Pool.create(file, { size: 4096 });
    expect((await rejection(Pool.open(file))).code).to.equal(ErrorCode.BUSY);
    expect((await rejection(Pool.create(file, { size: 4096 }))).code).to.equal(ErrorCode.EXISTS);
    await pool.close();
  });
});
