/**
 * The pool header's two alternating slots: the newest valid slot wins, a torn (corrupt) newest
 * slot falls back to the previous update, and a header with no valid slot is refused.
 */
import { expect } from 'chai';
import * as crypto from 'crypto';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { HEADER_BYTES, PoolHeader, SLOT_BYTES, decodeHeader, encodeHeader, slotOffset } from '../src/storage/pool-header';
import { normalizeAttr } from '../src/storage/pool-attr';

const POOL_SIZE = HEADER_BYTES + 65536;

function header(generation: bigint, durableSeq: bigint): PoolHeader {
  return {
    generation,
    poolSize: POOL_SIZE,
    poolUuid: crypto.randomBytes(16),
    durableSeq,
    epoch: 7n,
    claimant: Buffer.alloc(16, Number(generation % 256n)),
    historyEpoch: 6n,
    lsn: generation * 10n,
    syncState: generation % 3n === 0n ? 'syncing' : 'clean',
    attr: normalizeAttr({ signature: Buffer.from('SIGNATUR'), major: 2, userFlags: Buffer.alloc(16, 0x5a) }),
  };
}

function image(...headers: PoolHeader[]): Buffer {
  const img = Buffer.alloc(HEADER_BYTES);
  for (const h of headers) encodeHeader(h).copy(img, slotOffset(h.generation));
  return img;
}

function decodeError(img: Buffer, size = POOL_SIZE): RpmemError {
  try {
    decodeHeader(img, size, 'test');
  } catch (err) {
    return err as RpmemError;
  }
  throw new Error('expected decodeHeader to throw');
}

describe('pool header', () => {
  it('round-trips every field', () => {
    const h = header(5n, 1234567890123n);
    const back = decodeHeader(image(h), POOL_SIZE, 'test');
    expect(back.generation).to.equal(5n);
    expect(back.durableSeq).to.equal(1234567890123n);
    expect(back.epoch).to.equal(7n);
    expect(back.lsn).to.equal(50n);
    expect(back.syncState).to.equal('clean');
    expect(decodeHeader(image(header(6n, 1n)), POOL_SIZE, 'test').syncState).to.equal('syncing');
    expect(back.poolUuid.equals(h.poolUuid)).to.equal(true);
    expect(back.attr.signature.toString()).to.equal('SIGNATUR');
    expect(back.attr.major).to.equal(2);
    expect(back.attr.userFlags.equals(Buffer.alloc(16, 0x5a))).to.equal(true);
    expect(SLOT_BYTES).to.be.below(HEADER_BYTES / 2);
  });

  it('takes the slot with the higher generation', () => {
    expect(decodeHeader(image(header(6n, 60n), header(7n, 70n)), POOL_SIZE, 't').durableSeq).to.equal(70n);
    expect(decodeHeader(image(header(9n, 90n), header(8n, 80n)), POOL_SIZE, 't').durableSeq).to.equal(90n);
  });

  it('falls back to the previous update when the newest slot is torn', () => {
    for (const byte of [0, 20, 50, SLOT_BYTES - 1]) {
      const img = image(header(6n, 60n), header(7n, 70n));
      img[slotOffset(7n) + byte] ^= 0x01;
      expect(decodeHeader(img, POOL_SIZE, 't').durableSeq, `flipped byte ${byte}`).to.equal(60n);
    }
  });

  it('ignores a slot holding a generation that belongs in the other slot', () => {
    const img = image(header(6n, 60n));
    encodeHeader(header(8n, 80n)).copy(img, slotOffset(7n));
    expect(decodeHeader(img, POOL_SIZE, 't').durableSeq).to.equal(60n);
  });

  it('refuses a header with no valid slot', () => {
    expect(decodeError(Buffer.alloc(HEADER_BYTES)).code).to.equal(ErrorCode.CORRUPT);
    const img = image(header(1n, 0n));
    img[slotOffset(1n) + 30] ^= 0xff;
    expect(decodeError(img).code).to.equal(ErrorCode.CORRUPT);
  });

  it('refuses a header whose size disagrees with the file', () => {
    expect(decodeError(image(header(1n, 0n)), POOL_SIZE + 4096).code).to.equal(ErrorCode.CORRUPT);
  });

  it('validates attribute sizes', () => {
    expect(() => normalizeAttr({ signature: Buffer.alloc(9) })).to.throw(RpmemError, /signature must be 8 bytes/);
    expect(() => normalizeAttr({ major: -1 })).to.throw(RpmemError, /major/);
  });
});
