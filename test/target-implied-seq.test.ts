/**
 * rpmemd and Persist streams of implied seqs (PersistStart.first_seq, docs/design.md I3): the start
 * seq is checked against the pool's durable seq before any range is taken, the two forms never mix
 * on one stream, and every per-range check of the explicit form still holds. Then a seeded sweep of
 * random implied-form streams (its own generator, so the fuzzer's kept seeds mean what they meant).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import { status as Status } from '@grpc/grpc-js';
import { ErrorCode } from '../src/storage/errors';
import { HEADER_BYTES, CLAIMANT_BYTES } from '../src/storage/pool-header';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { TargetClient } from '../src/initiator/target-client';
import type { Range } from '../src/generated/rpmem/v1/Range';
import { TestTarget } from './helpers/test-target';
import { RawOutcome, RawPersist, range } from './helpers/raw-persist';
import { randomRange } from './helpers/fuzz-frames';
import { Rng, parseSeed } from './helpers/fuzz-rng';

const POOL_SIZE = HEADER_BYTES + 1024 * 1024;
const MAX_RANGE = 64 * 1024;
const SEED = parseSeed(process.env.RPMEM_IMPLIED_SEED ?? '0x1eaf5eed');
const SWEEP_STREAMS = 60;

/** A range in the implied form: everything but the seq, which the target gives it. */
function implied(offset: number, length: number, fill = 0xab): Range {
  const { seq: _seq, ...rest } = range(0n, offset, length, fill);
  return rest;
}

describe('rpmemd: Persist streams of implied seqs', function () {
  let target: TestTarget;
  let client: TargetClient;
  let pools = 0;

  before(async () => {
    target = await TestTarget.start({ args: ['--max-range-bytes', String(MAX_RANGE)] });
    client = new TargetClient(target.address);
  });

  after(async () => {
    client.close();
    await target.stop();
  });

  async function freshPool(): Promise<string> {
    const name = `i${++pools}`;
    await client.create({ protocolVersion: PROTOCOL_VERSION, name, poolSize: POOL_SIZE });
    return name;
  }

  /** Opens `name` and starts a stream stating `firstSeq` (a string: 0 = the explicit form). */
  async function stream(name: string, firstSeq: string): Promise<RawPersist> {
    const res = await client.open({ protocolVersion: PROTOCOL_VERSION, name });
    expect(res.impliedSeq, 'Open offers implied seqs').to.equal(true);
    return new RawPersist(client).write({ start: { protocolVersion: PROTOCOL_VERSION, handle: res.handle, firstSeq } });
  }

  async function durableSeq(name: string): Promise<bigint> {
    return BigInt((await client.stat({ protocolVersion: PROTOCOL_VERSION, name })).durableSeq);
  }

  it('numbers seq-less ranges from first_seq in arrival order, across batches and streams', async () => {
    const name = await freshPool();
    const first = await (
      await stream(name, '1')
    )
      .send(implied(HEADER_BYTES, 100, 0x11), implied(HEADER_BYTES + 4096, 200, 0x22))
      .send(implied(HEADER_BYTES + 8192, 300, 0x33))
      .end();
    expect(first.error).to.equal(undefined);
    expect(first.acks[first.acks.length - 1]).to.equal(3n);
    expect(await durableSeq(name)).to.equal(3n);
    const second = await (await stream(name, '4')).send(implied(HEADER_BYTES, 50, 0x44)).end();
    expect(second.error).to.equal(undefined);
    expect(second.acks).to.deep.equal([4n]);
    const bytes = fs.readFileSync(target.poolPath(name));
    expect(bytes.subarray(HEADER_BYTES, HEADER_BYTES + 50).equals(Buffer.alloc(50, 0x44))).to.equal(true);
    expect(bytes.subarray(HEADER_BYTES + 50, HEADER_BYTES + 100).equals(Buffer.alloc(50, 0x11))).to.equal(true);
    expect(bytes.subarray(HEADER_BYTES + 8192, HEADER_BYTES + 8492).equals(Buffer.alloc(300, 0x33))).to.equal(true);
  });

  it('refuses a first_seq that is not durable_seq + 1 before taking any range; the right one is then taken', async () => {
    const name = await freshPool();
    expect((await (await stream(name, '1')).send(implied(HEADER_BYTES, 10, 0x01), implied(HEADER_BYTES, 10, 0x02)).end()).error).to.equal(
      undefined,
    );
    const before = fs.readFileSync(target.poolPath(name));
    for (const wrong of ['2', '4', String(2 ** 53), '18446744073709551615']) {
      const out: RawOutcome = await (await stream(name, wrong)).send(implied(HEADER_BYTES, 10, 0x0f)).end();
      expect(out.error?.code, `first_seq ${wrong}`).to.equal(ErrorCode.SEQUENCE);
      expect(out.status).to.equal(Status.FAILED_PRECONDITION);
      expect(out.error?.message).to.include('expected first_seq 3');
      expect(out.acks).to.deep.equal([]);
    }
    // A refused start with a claim the pool would accept promises nothing either: checked before the claim.
    const res = await client.open({ protocolVersion: PROTOCOL_VERSION, name });
    const claimed = await new RawPersist(client)
      .write({
        start: {
          protocolVersion: PROTOCOL_VERSION,
          handle: res.handle,
          firstSeq: '4',
          epoch: '7',
          claimant: Buffer.alloc(CLAIMANT_BYTES, 7),
        },
      })
      .send(implied(HEADER_BYTES, 10, 0x0f))
      .end();
    expect(claimed.error?.code).to.equal(ErrorCode.SEQUENCE);
    expect(fs.readFileSync(target.poolPath(name)).equals(before), 'the pool file is as before the refused streams').to.equal(true);
    const right = await (await stream(name, '3')).send(implied(HEADER_BYTES, 10, 0x03)).end();
    expect(right.error).to.equal(undefined);
    expect(right.acks).to.deep.equal([3n]);
    expect(
      fs
        .readFileSync(target.poolPath(name))
        .subarray(HEADER_BYTES, HEADER_BYTES + 10)
        .equals(Buffer.alloc(10, 0x03)),
    ).to.equal(true);
  });

  it('refuses a range that carries a seq on a stream of implied seqs, after acking the ones before it', async () => {
    const name = await freshPool();
    const out = await (
      await stream(name, '1')
    )
      .send(implied(HEADER_BYTES, 10), implied(HEADER_BYTES + 4096, 10), range(3n, HEADER_BYTES + 8192, 10))
      .end();
    expect(out.error?.code).to.equal(ErrorCode.SEQUENCE);
    expect(out.error?.seq).to.equal(3n);
    expect(out.error?.message).to.include('implied seqs');
    expect(out.acks[out.acks.length - 1]).to.equal(2n);
    expect(await durableSeq(name)).to.equal(2n);
  });

  it('refuses a range without seq on a stream that stated no first_seq, after acking the ones before it', async () => {
    const name = await freshPool();
    const out = await (await stream(name, '0')).send(range(1n, HEADER_BYTES, 10), implied(HEADER_BYTES + 4096, 10)).end();
    expect(out.error?.code).to.equal(ErrorCode.SEQUENCE);
    expect(out.error?.message).to.include('expected seq 2');
    expect(out.acks[out.acks.length - 1]).to.equal(1n);
    // Positive control: the same pool still takes an explicit stream.
    const next = await (await stream(name, '0')).send(range(2n, HEADER_BYTES, 10)).end();
    expect(next.error).to.equal(undefined);
    expect(next.acks).to.deep.equal([2n]);
  });

  it('keeps every range check on a stream of implied seqs, naming the seq the range was given', async () => {
    const cases: Array<{ bad: Range; code: ErrorCode }> = [
      { bad: { ...implied(HEADER_BYTES, 10), crc32c: 12345 }, code: ErrorCode.CHECKSUM },
      { bad: implied(100, 10), code: ErrorCode.OUT_OF_RANGE },
      { bad: implied(POOL_SIZE - 5, 10), code: ErrorCode.OUT_OF_RANGE },
      { bad: { ...implied(HEADER_BYTES, 10), flags: 2 }, code: ErrorCode.INVALID_ARGUMENT },
      { bad: implied(HEADER_BYTES, MAX_RANGE + 1), code: ErrorCode.RANGE_TOO_LARGE },
      { bad: implied(HEADER_BYTES, 0), code: ErrorCode.EMPTY_RANGE },
    ];
    for (const { bad, code } of cases) {
      const name = await freshPool();
      const out = await (await stream(name, '1')).send(implied(HEADER_BYTES + 4096, 10, 0x5a), bad).end();
      expect(out.error?.code, code).to.equal(code);
      expect(out.error?.seq).to.equal(2n);
      expect(out.acks[out.acks.length - 1]).to.equal(1n);
      expect(await durableSeq(name)).to.equal(1n);
    }
  });

  it(`survives ${SWEEP_STREAMS} random implied-form streams (seed 0x${SEED.toString(16)}), each acked exactly up to its first bad range`, async () => {
    const rng = new Rng(SEED);
    const name = await freshPool();
    let durable = 0n;
    const seen = { validAcked: 0, badRange: 0, badStart: 0, mixed: 0, clean: 0 };
    for (let s = 0; s < SWEEP_STREAMS; s++) {
      const startKind = rng.int(10);
      const startOff = startKind === 0 ? rng.pick([-1n, 1n, 2n]) : 0n;
      const raw = await stream(name, String(durable + 1n + startOff));
      let expected = durable;
      let failed = startOff !== 0n;
      if (failed) seen.badStart++;
      const batches = rng.range(1, 4);
      for (let b = 0; b < batches; b++) {
        const ranges: Range[] = [];
        for (let i = rng.range(1, 8); i > 0; i--) {
          const { range: r, valid: validExplicit } = randomRange(rng, 0n, POOL_SIZE, MAX_RANGE);
          // Its one fault may be a wrong seq, which leaving the seq out repairs; here the fault of
          // the seq kind is a seq at all, mixed in now and then.
          const { seq, ...rest } = r;
          const valid = validExplicit || seq !== '0';
          const mixed = rng.chance(0.05);
          ranges.push(mixed ? { ...rest, seq: String(expected + 1n) } : rest);
          if (!failed && valid && !mixed) expected++;
          else if (!failed) {
            failed = true;
            if (mixed && valid) seen.mixed++;
            else seen.badRange++;
          }
        }
        raw.send(...ranges);
      }
      const out = await raw.end();
      const last = out.acks.length === 0 ? durable : out.acks[out.acks.length - 1];
      expect(last, `stream ${s}: last ack`).to.equal(expected);
      expect(out.error !== undefined, `stream ${s}: ended with an error (${out.error?.code})`).to.equal(failed);
      if (failed && startOff !== 0n) expect(out.error?.code).to.equal(ErrorCode.SEQUENCE);
      if (!failed) seen.clean++;
      seen.validAcked += Number(expected - durable);
      durable = expected;
      expect(await durableSeq(name)).to.equal(durable);
    }
    // Coverage floors: every outcome the sweep is for happened.
    expect(seen.validAcked, JSON.stringify(seen)).to.be.at.least(40);
    expect(seen.badStart, JSON.stringify(seen)).to.be.at.least(2);
    expect(seen.badRange, JSON.stringify(seen)).to.be.at.least(5);
    expect(seen.mixed, JSON.stringify(seen)).to.be.at.least(1);
    expect(seen.clean, JSON.stringify(seen)).to.be.at.least(5);
  });
});
