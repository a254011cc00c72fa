/**
 * Experiment: what the Persist stream's protobuf handling costs per 4 KiB range, in a 256-range
 * PersistBatch (1 MiB message). Initiator: proto-loader's serializer as rpmem calls it today
 * (fromObject + encode, uint64 fields as decimal strings) against encode alone with numbers.
 * Target: proto-loader's deserializer (decode + toObject with longs: String) against decode alone.
 * Then persist-codec, which both ends use now, measured the same way on the same wire bytes.
 * CPU time, best of several rounds; the output buffer faults are left in both sides alike.
 *
 *   node dist/bench/experiments/codec.js
 */
import * as path from 'path';
import { isDeepStrictEqual } from 'util';
import * as protobuf from 'protobufjs';
import type { PersistRange } from '../../src/wire/persist-codec';
import { persistMethod, rpmemV1 } from '../../src/wire/protocol';

const RANGES = 256;
const ROUNDS = 9;
const MESSAGES = 50;
const data = Buffer.alloc(4096, 3);

function best(fn: () => unknown): number {
  let b = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < MESSAGES; i++) fn();
    const c = process.cpuUsage(c0);
    b = Math.min(b, ((c.user + c.system) * 1000) / (MESSAGES * RANGES));
  }
  return b;
}

function main(): void {
  const persist = rpmemV1.Target.service.Persist;
  const root = protobuf.loadSync(path.join(__dirname, '..', '..', '..', 'proto', 'rpmem.proto'));
  const PersistRequest = root.lookupType('rpmem.v1.PersistRequest');
  const asStrings = (): unknown => ({
    batch: {
      ranges: Array.from({ length: RANGES }, (_, i) => ({
        seq: String(1_000_000 + i),
        offset: 4096 * (i + 1),
        data,
        crc32c: 12345,
        flags: 0,
        lsn: '0',
      })),
    },
  });
  const asNumbers = (): protobuf.Message =>
    ({
      batch: { ranges: Array.from({ length: RANGES }, (_, i) => ({ seq: 1_000_000 + i, offset: 4096 * (i + 1), data, crc32c: 12345 })) },
    }) as unknown as protobuf.Message;
  const asRecords = (): { kind: 'batch'; ranges: PersistRange[] } => ({
    kind: 'batch',
    ranges: Array.from({ length: RANGES }, (_, i) => ({
      seq: 1_000_000 + i,
      offset: 4096 * (i + 1),
      data,
      crc32c: 12345,
      flags: 0,
      lsn: 0,
    })),
  });
  const wire = persist.requestSerialize(asStrings() as never);
  // Not byte-equal (proto-loader writes zero-valued fields, persist-codec leaves them out), but the same message.
  if (!isDeepStrictEqual(persist.requestDeserialize(wire), persist.requestDeserialize(persistMethod.requestSerialize(asRecords())))) {
    throw new Error('persist-codec and proto-loader encode different messages');
  }
  const results: Array<[string, number]> = [
    [
      'serialize: proto-loader (fromObject + encode), uint64 as strings [today]',
      best(() => persist.requestSerialize(asStrings() as never)),
    ],
    ['serialize: encode only, uint64 as numbers, zero fields omitted', best(() => PersistRequest.encode(asNumbers()).finish())],
    ['deserialize: proto-loader (decode + toObject, longs: String) [today]', best(() => persist.requestDeserialize(wire))],
    ['deserialize: decode only (uint64 as Long, bytes as Buffer views)', best(() => PersistRequest.decode(wire))],
    ['serialize: persist-codec from range records [initiator now]', best(() => persistMethod.requestSerialize(asRecords()))],
    ['deserialize: persist-codec to range records [rpmemd now]', best(() => persistMethod.requestDeserialize(wire))],
  ];
  for (const [label, ns] of results) process.stdout.write(`${label.padEnd(76)} ${ns.toFixed(0).padStart(6)} ns CPU per range\n`);
}

main();
