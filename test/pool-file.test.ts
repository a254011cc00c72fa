/**
 * PoolFile: data before header (I2) even when a sync fails, and atomic creation.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { normalizeAttr } from '../src/storage/pool-attr';
import { PoolFile } from '../src/storage/pool-file';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { SHM_DIR, tempDir } from './helpers/setup';

const EIO = 5;

for (const granularity of ['cache-line', 'page'] as const) {
  describe(`PoolFile (${granularity})`, () => {
    const dir = (): string => tempDir('poolfile', granularity === 'cache-line' ? SHM_DIR : undefined);

    it('keeps the header at the last durable seq when a sync fails, and fails the file (sticky)', async () => {
      const file = path.join(dir(), 'p');
      const pool = await PoolFile.create(file, { poolSize: HEADER_BYTES + 65536, attr: normalizeAttr(), granularity });
      await pool.applyBatch([{ offset: HEADER_BYTES, data: Buffer.from('first') }], 1n, 0n, false);
      pool.mapping.failNextSync(EIO);
      const err = await pool
        .applyBatch([{ offset: HEADER_BYTES + 100, data: Buffer.from('second') }], 2n, 0n, false)
        .catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(ErrorCode.IO);
      expect((err as RpmemError).errno).to.equal(EIO);
      expect(pool.durableSeq).to.equal(1n);
      const later = await pool
        .applyBatch([{ offset: HEADER_BYTES, data: Buffer.from('third') }], 2n, 0n, false)
        .catch((e: RpmemError) => e);
      expect((later as RpmemError).code).to.equal(ErrorCode.FAILED);
      await pool.close();
      const reopened = PoolFile.open(file, { granularity });
      expect(reopened.durableSeq).to.equal(1n);
      expect(reopened.read(HEADER_BYTES, 5).toString()).to.equal('first');
      await reopened.close();
    });

    it('applies a batch whose ranges are views of one message (packed) and one of separate buffers alike', async () => {
      const file = path.join(dir(), 'views');
      const pool = await PoolFile.create(file, { poolSize: HEADER_BYTES + 65536, attr: normalizeAttr(), granularity });
      const message = Buffer.alloc(3000);
      for (let i = 0; i < message.length; i++) message[i] = (i * 7) & 0xff;
      const views = [0, 700, 1500, 2200].map((at, i) => ({
        offset: HEADER_BYTES + 10_000 * i + 3,
        data: message.subarray(at + 5, at + 600),
      }));
      await pool.applyBatch(views, 1n, 0n, false);
      const separate = [1, 2, 3].map((i) => ({ offset: HEADER_BYTES + 40_000 + 4096 * i, data: Buffer.alloc(100 * i, i) }));
      await pool.applyBatch(separate, 2n, 0n, false);
      await pool.close();
      const bytes = fs.readFileSync(file);
      for (const r of [...views, ...separate]) expect(bytes.subarray(r.offset, r.offset + r.data.length).equals(r.data)).to.equal(true);
      const reopened = PoolFile.open(file, { granularity });
      expect(reopened.durableSeq).to.equal(2n);
      await reopened.close();
    });

    it('creates atomically: no temporary file remains, and an existing pool is never replaced', async () => {
      const d = dir();
      const file = path.join(d, 'q');
      const pool = await PoolFile.create(file, { poolSize: HEADER_BYTES + 4096, attr: normalizeAttr(), granularity });
      await pool.close();
      const before = fs.readFileSync(file);
      const err = await PoolFile.create(file, { poolSize: HEADER_BYTES + 8192, attr: normalizeAttr(), granularity }).catch(
        (e: RpmemError) => e,
      );
      expect((err as RpmemError).code).to.equal(ErrorCode.EXISTS);
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
      expect(fs.readdirSync(d)).to.deep.equal(['q']);
    });
  });
}
