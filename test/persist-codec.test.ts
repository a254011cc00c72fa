/**
 * persist-codec against the stock proto-loader codec of proto/rpmem.proto: each decodes what the
 * other encodes, whatever order, unknown fields or extreme values a conforming encoder may send;
 * bytes that are no valid message decode to 'malformed' (never a throw), and rpmemd ends such a
 * stream with a stable code after acking what came before.
 */
import { expect } from 'chai';
import { Writer } from 'protobufjs';
import { Metadata, status as Status } from '@grpc/grpc-js';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { fromServiceError } from '../src/wire/status';
import { wireStatus } from './helpers/rejection';
import { crc32c } from '../src/storage/native';
import {
  DecodedPersistRequest,
  PersistRange,
  decodePersistAck,
  decodePersistRequest,
  encodePersistAck,
  encodePersistBatch,
  encodePersistRequest,
} from '../src/wire/persist-codec';
import { PROTOCOL_VERSION, persistMethod, rpmemV1 } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { TargetClient } from '../src/initiator/target-client';
import { RawPersist, range } from './helpers/raw-persist';
import { TestTarget } from './helpers/test-target';

const stock = rpmemV1.Target.service.Persist;
const MAX_UINT64 = '18446744073709551615';
const MAX_UINT32 = 0xffffffff;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function batchOf(...ranges: PersistRange[]): DecodedPersistRequest {
  return { kind: 'batch', ranges };
}

function rangesOf(frame: DecodedPersistRequest): readonly PersistRange[] {
  if (frame.kind !== 'batch') throw new Error(`expected a batch, got ${frame.kind}`);
  return frame.ranges;
}

function rangeRecord(seq: number, fill: number): PersistRange {
  const data = Buffer.alloc(64 + seq, fill);
  return { seq, offset: HEADER_BYTES + seq * 4096, data, crc32c: crc32c(data), flags: seq % 2, lsn: seq * 10 };
}

/** A Range message written field by field, in the order and with the extra fields the test chooses. */
function rangeBytes(write: (w: Writer) => void): Uint8Array {
  const w = Writer.create();
  write(w);
  return w.finish();
}

function batchBytes(...ranges: Uint8Array[]): Buffer {
  const batch = Writer.create();
  for (const r of ranges) batch.uint32((1 << 3) | 2).bytes(r);
  return Buffer.from(
    Writer.create()
      .uint32((2 << 3) | 2)
      .bytes(batch.finish())
      .finish(),
  );
}

describe('persist-codec', () => {
  describe('initiator encoding, stock decoding', () => {
    it('encodes a PersistStart, epoch up to the maximum uint64, first_seq up to 2^53 - 1', () => {
      const claimant = Buffer.alloc(16, 0xc1);
      const wire = encodePersistRequest({
        kind: 'start',
        start: { protocolVersion: PROTOCOL_VERSION, handle: 'h-1', epoch: BigInt(MAX_UINT64), claimant, firstSeq: MAX_SAFE },
      });
      expect(stock.requestDeserialize(wire)).to.deep.include({
        kind: 'start',
        start: { protocolVersion: PROTOCOL_VERSION, handle: 'h-1', epoch: MAX_UINT64, claimant, firstSeq: String(MAX_SAFE) },
      });
      const explicit = encodePersistRequest({
        kind: 'start',
        start: { protocolVersion: PROTOCOL_VERSION, handle: 'h-1', epoch: 0n, claimant },
      });
      expect(stock.requestDeserialize(explicit)).to.deep.include({
        start: { protocolVersion: PROTOCOL_VERSION, handle: 'h-1', epoch: '0', claimant, firstSeq: '0' },
      });
    });

    it('encodes a batch without seqs to the same bytes whatever the seqs were, which a stock decoder reads as seq 0', () => {
      const ranges = [rangeRecord(7, 0x11), rangeRecord(8, 0x22)];
      const wire = encodePersistBatch(ranges, false);
      const renumbered = encodePersistBatch(
        ranges.map((r) => ({ ...r, seq: r.seq + 1000 })),
        false,
      );
      expect(wire.equals(renumbered)).to.equal(true);
      const decoded = stock.requestDeserialize(wire) as unknown as { batch: { ranges: Array<Record<string, unknown>> } };
      expect(
        decoded.batch.ranges.map((r) => [r.seq, r.offset, r.lsn, r.flags, r.crc32c, (r.data as Buffer).toString('hex')]),
      ).to.deep.equal(ranges.map((r) => ['0', String(r.offset), String(r.lsn), r.flags, r.crc32c, r.data.toString('hex')]));
      expect(encodePersistBatch(ranges, true).equals(encodePersistRequest({ kind: 'batch', ranges }))).to.equal(true);
    });

    it('encodes ranges with the largest values the initiator sends', () => {
      const data = Buffer.from('abc');
      const big: PersistRange = {
        seq: Number.MAX_SAFE_INTEGER,
        offset: Number.MAX_SAFE_INTEGER,
        data,
        crc32c: MAX_UINT32,
        flags: MAX_UINT32,
        lsn: Number.MAX_SAFE_INTEGER,
      };
      const out = stock.requestDeserialize(encodePersistRequest({ kind: 'batch', ranges: [big, rangeRecord(1, 0x11)] }));
      expect(out.kind).to.equal('batch');
      const max = String(Number.MAX_SAFE_INTEGER);
      expect(out.batch!.ranges[0]).to.deep.equal({ seq: max, offset: max, data, crc32c: MAX_UINT32, flags: MAX_UINT32, lsn: max });
      const r1 = rangeRecord(1, 0x11);
      expect(out.batch!.ranges[1]).to.deep.equal({ ...r1, seq: '1', offset: String(r1.offset), lsn: '10' });
    });

    it('encodes a batch to the exact bytes a protobufjs Writer gives, at every varint width', () => {
      const widths = [1, 127, 128, 16_383, 16_384, 2 ** 21, 2 ** 28, MAX_UINT32, 2 ** 35, 2 ** 49, Number.MAX_SAFE_INTEGER];
      const ranges: PersistRange[] = widths.map((v, i) => ({
        seq: v,
        offset: widths[widths.length - 1 - i],
        data: Buffer.alloc(i === 3 ? 200 : i, i + 1),
        crc32c: i % 2 === 0 ? Math.min(v, MAX_UINT32) : 0,
        flags: i % 3 === 0 ? 0 : 1,
        lsn: i % 4 === 0 ? 0 : v,
      }));
      const expected = batchBytes(
        ...ranges.map((r) =>
          rangeBytes((w) => {
            if (r.seq !== 0) w.uint32((1 << 3) | 0).uint64(r.seq);
            if (r.offset !== 0) w.uint32((2 << 3) | 0).uint64(r.offset);
            if (r.data.length !== 0) w.uint32((3 << 3) | 2).bytes(r.data);
            if (r.crc32c !== 0) w.uint32((4 << 3) | 0).uint32(r.crc32c);
            if (r.flags !== 0) w.uint32((5 << 3) | 0).uint32(r.flags);
            if (r.lsn !== 0) w.uint32((6 << 3) | 0).uint64(r.lsn);
          }),
        ),
      );
      expect(encodePersistRequest({ kind: 'batch', ranges }).equals(expected)).to.equal(true);
    });

    it('encodes an empty batch as a batch, not as an empty request', () => {
      const out = stock.requestDeserialize(encodePersistRequest({ kind: 'batch', ranges: [] }));
      expect(out.kind).to.equal('batch');
      expect(out.batch!.ranges).to.deep.equal([]);
    });

    it('encodes acks, durability included', () => {
      expect(
        stock.responseDeserialize(encodePersistAck({ durableSeq: Number.MAX_SAFE_INTEGER, granularity: 'cache-line', durability: 1 })),
      ).to.deep.equal({
        durableSeq: String(Number.MAX_SAFE_INTEGER),
        granularity: 'GRANULARITY_CACHE_LINE',
        durability: 'DURABILITY_EMULATED',
      });
      expect(stock.responseDeserialize(encodePersistAck({ durableSeq: 5, granularity: 'page', durability: 3 }))).to.deep.include({
        durability: 'DURABILITY_PMEM',
      });
      expect(stock.responseDeserialize(encodePersistAck({ durableSeq: 0, granularity: undefined, durability: 0 }))).to.deep.equal({
        durableSeq: '0',
        granularity: 'GRANULARITY_UNSPECIFIED',
        durability: 'DURABILITY_UNSPECIFIED',
      });
    });
  });

  describe('stock encoding, target decoding', () => {
    it('decodes a PersistStart exactly, epoch included', () => {
      const claimant = Buffer.alloc(16, 0xc2);
      const wire = stock.requestSerialize({ start: { protocolVersion: 1, handle: 'h-2', epoch: MAX_UINT64, claimant, firstSeq: '42' } });
      expect(decodePersistRequest(wire)).to.deep.equal({
        kind: 'start',
        start: { protocolVersion: 1, handle: 'h-2', epoch: BigInt(MAX_UINT64), claimant, firstSeq: 42 },
      });
    });

    it('decodes ranges to numbers and data to views of the message (no copy)', () => {
      const ranges = [rangeRecord(1, 0x11), rangeRecord(2, 0x22)];
      const wire = stock.requestSerialize({ batch: { ranges: ranges.map((r) => ({ ...r, seq: String(r.seq), lsn: String(r.lsn) })) } });
      const out = decodePersistRequest(wire);
      expect(out).to.deep.equal(batchOf(...ranges));
      const data = rangesOf(out)[1].data;
      expect(data.buffer).to.equal(wire.buffer);
    });

    it('decodes uint64s above 2^53 - 1 to numbers that are not safe integers, and uint32 maxima exactly', () => {
      const wire = stock.requestSerialize({
        batch: {
          ranges: [
            { seq: MAX_UINT64, offset: MAX_UINT64, data: Buffer.from('x'), crc32c: MAX_UINT32, flags: MAX_UINT32, lsn: '9007199254740993' },
          ],
        },
      });
      const [r] = rangesOf(decodePersistRequest(wire));
      for (const v of [r.seq, r.offset, r.lsn]) expect(Number.isSafeInteger(v), String(v)).to.equal(false);
      expect([r.crc32c, r.flags]).to.deep.equal([MAX_UINT32, MAX_UINT32]);
    });

    it('decodes an empty batch, and an empty request as "empty"', () => {
      expect(decodePersistRequest(stock.requestSerialize({ batch: { ranges: [] } }))).to.deep.equal(batchOf());
      expect(decodePersistRequest(stock.requestSerialize({}))).to.deep.equal({ kind: 'empty' });
    });

    it('takes fields in any order and skips unknown ones of every wire type', () => {
      const data = Buffer.from('out of order');
      const unknown = (w: Writer): Writer =>
        w
          .uint32((15 << 3) | 0)
          .uint64('123456789012')
          .uint32((16 << 3) | 2)
          .bytes(Buffer.from('?'))
          .uint32((17 << 3) | 1)
          .fixed64(7)
          .uint32((18 << 3) | 5)
          .fixed32(9);
      const reversed = rangeBytes((w) => {
        unknown(w)
          .uint32((6 << 3) | 0)
          .uint64(77)
          .uint32((5 << 3) | 0)
          .uint32(1)
          .uint32((4 << 3) | 0)
          .uint32(crc32c(data));
        unknown(w)
          .uint32((3 << 3) | 2)
          .bytes(data)
          .uint32((2 << 3) | 0)
          .uint64(8192)
          .uint32((1 << 3) | 0)
          .uint64(5);
      });
      const wire = Buffer.concat([
        Writer.create()
          .uint32((9 << 3) | 2)
          .bytes(Buffer.from('top-level unknown'))
          .finish(),
        batchBytes(reversed),
      ]);
      const expected: PersistRange = { seq: 5, offset: 8192, data, crc32c: crc32c(data), flags: 1, lsn: 77 };
      expect(decodePersistRequest(wire)).to.deep.equal(batchOf(expected));
      expect(stock.requestDeserialize(wire).batch!.ranges[0]).to.deep.equal({ ...expected, seq: '5', offset: '8192', lsn: '77' });
    });

    it('skips a known field number arriving with another wire type (as unknown; protobuf has no packed form of a singular field)', () => {
      const r = rangeBytes((w) =>
        w
          .uint32((1 << 3) | 0)
          .uint64(3)
          .uint32((2 << 3) | 2)
          .bytes(Buffer.from([0x80, 0x20]))
          .uint32((2 << 3) | 0)
          .uint64(4096),
      );
      expect(decodePersistRequest(batchBytes(r))).to.deep.equal(
        batchOf({ seq: 3, offset: 4096, data: Buffer.alloc(0), crc32c: 0, flags: 0, lsn: 0 }),
      );
    });

    it('merges a repeated batch field and lets the last oneof member win, as protobuf does', () => {
      const one = rangeRecord(1, 0x11);
      const two = rangeRecord(2, 0x22);
      const asStock = (r: PersistRange): object => ({ ...r, seq: String(r.seq), lsn: String(r.lsn) });
      const wire = Buffer.concat([
        stock.requestSerialize({ batch: { ranges: [asStock(one)] } }),
        stock.requestSerialize({ batch: { ranges: [asStock(two)] } }),
      ]);
      expect(decodePersistRequest(wire)).to.deep.equal(batchOf(one, two));
      const startThenBatch = Buffer.concat([
        stock.requestSerialize({ start: { protocolVersion: 1, handle: 'h' } }),
        stock.requestSerialize({ batch: { ranges: [] } }),
      ]);
      expect(decodePersistRequest(startThenBatch)).to.deep.equal(batchOf());
    });

    it('decodes acks, an unknown granularity as undefined and the durability number as sent', () => {
      expect(
        decodePersistAck(stock.responseSerialize({ durableSeq: '42', granularity: 'GRANULARITY_PAGE', durability: 'DURABILITY_PAGE' })),
      ).to.deep.equal({
        durableSeq: 42,
        granularity: 'page',
        durability: 2,
      });
      const unknownGranularity = Buffer.from(
        Writer.create()
          .uint32(8)
          .uint64(7)
          .uint32(16)
          .int32(9)
          .uint32((5 << 3) | 0)
          .uint32(1)
          .finish(),
      );
      expect(decodePersistAck(unknownGranularity)).to.deep.equal({ durableSeq: 7, granularity: undefined, durability: 0 });
      // An undeclared durability is kept for fromWireDurability to refuse (the stream fails with RPMEM_E_PROTOCOL).
      const undeclared = Buffer.from(Writer.create().uint32(8).uint64(7).uint32(24).int32(9).finish());
      expect(decodePersistAck(undeclared)).to.deep.equal({ durableSeq: 7, granularity: undefined, durability: 9 });
    });
  });

  describe('malformed frames', () => {
    const good = encodePersistRequest({ kind: 'batch', ranges: [rangeRecord(1, 0x11), rangeRecord(2, 0x22)] });
    const cases: Array<[string, Buffer]> = [
      ['truncated', good.subarray(0, good.length - 3)],
      [
        'a nested length past the end',
        batchBytes(
          rangeBytes((w) =>
            w
              .uint32((3 << 3) | 2)
              .uint32(1000)
              .uint32(1),
          ),
        ),
      ],
      ['a nested message whose last field overruns it', Buffer.from([0x12, 0x03, 0x0a, 0x05, 0x08, 0x01, 0x00, 0x00, 0x00])],
      ['an invalid wire type', Buffer.from([0x0f, 0x00])],
      ['an unterminated varint', Buffer.from([0x08, 0xff, 0xff])],
    ];
    for (const [what, wire] of cases) {
      it(`decodes ${what} as malformed without throwing`, () => {
        expect(decodePersistRequest(wire).kind).to.equal('malformed');
      });
    }
  });

  describe('rpmemd', function () {
    let target: TestTarget;
    let client: TargetClient;

    before(async () => {
      target = await TestTarget.start();
      client = new TargetClient(target.address);
    });

    after(async () => {
      client.close();
      await target.stop();
    });

    async function openPool(name: string): Promise<string> {
      await client.create({ protocolVersion: PROTOCOL_VERSION, name, poolSize: HEADER_BYTES + 1024 * 1024 });
      return (await client.open({ protocolVersion: PROTOCOL_VERSION, name })).handle;
    }

    it('acks what came before a malformed frame, then ends with RPMEM_E_INVALID_ARGUMENT', async () => {
      const handle = await openPool('malformed');
      const call = client.grpc.makeBidiStreamRequest(persistMethod.path, (b: Buffer) => b, decodePersistAck, new Metadata());
      const acks: number[] = [];
      call.on('data', (ack: { durableSeq: number }) => acks.push(ack.durableSeq));
      const ended = new Promise<RpmemError>((resolve) => call.on('error', (err) => resolve(fromServiceError(err))));
      call.write(
        encodePersistRequest({ kind: 'start', start: { protocolVersion: PROTOCOL_VERSION, handle, epoch: 0n, claimant: Buffer.alloc(0) } }),
      );
      const data = Buffer.alloc(64, 1);
      const one: PersistRange = { seq: 1, offset: HEADER_BYTES, data, crc32c: crc32c(data), flags: 0, lsn: 0 };
      call.write(encodePersistRequest({ kind: 'batch', ranges: [one] }));
      call.write(Buffer.from([0x12, 0x05, 0x0a]));
      const err = await ended;
      expect(err.code).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).to.match(/malformed PersistRequest/);
      expect(wireStatus(err)).to.equal(Status.INVALID_ARGUMENT);
      expect(acks).to.deep.equal([1]);
    });

    it('refuses a seq or an lsn above 2^53 - 1 from a stock client with stable codes', async () => {
      const bigSeq = await new RawPersist(client).start(await openPool('big-seq')).send({ ...range(1n, HEADER_BYTES, 8), seq: MAX_UINT64 })
        .outcome;
      expect(bigSeq.error?.code).to.equal(ErrorCode.SEQUENCE);
      expect(bigSeq.status).to.equal(Status.FAILED_PRECONDITION);
      const bigLsn = await new RawPersist(client)
        .start(await openPool('big-lsn'))
        .send(range(1n, HEADER_BYTES, 8), { ...range(2n, HEADER_BYTES, 8), lsn: '9007199254740993' }).outcome;
      expect(bigLsn.error?.code).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(bigLsn.error?.seq).to.equal(2n);
      expect(bigLsn.acks[bigLsn.acks.length - 1]).to.equal(1n);
    });
  });
});
