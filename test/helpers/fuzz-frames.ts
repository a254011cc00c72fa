/**
 * Frame generators and mutators for the rpmemd fuzz harness: valid requests of every rpmem.v1
 * method encoded with protobufjs, wire-level mutations of them (bit flips, truncation, duplicated
 * and unknown fields, huge and overlong varints, wrong wire types, splices, group bombs), random
 * bytes, and gRPC length-prefixed framing for raw HTTP/2.
 */
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { crc32c } from '../../src/storage/native';
import { encodePersistRequest, PersistRange } from '../../src/wire/persist-codec';
import type { Rng } from './fuzz-rng';

const ROOT = path.resolve(__dirname, '..', '..', '..');
export const PROTO_FILE = path.join(ROOT, 'proto', 'rpmem.proto');
const HEADER_BYTES = 4096;
/** Mutations that grow a message stop at this size (the daemon's message limit is smaller). */
const MAX_MUTATED_BYTES = 4 * 1024 * 1024;

const proto = protobuf.loadSync(PROTO_FILE);

/** protobufjs type of `rpmem.v1.<name>`. */
export function wireType(name: string): protobuf.Type {
  return proto.lookupType(`rpmem.v1.${name}`);
}

/** Encodes a plain object (64-bit fields may be decimal strings) as `rpmem.v1.<type>`. */
export function encode(type: string, value: Record<string, unknown>): Buffer {
  const t = wireType(type);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

/** Decodes `rpmem.v1.<type>`; undefined when the bytes do not parse. */
export function decode(type: string, bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const t = wireType(type);
    return t.toObject(t.decode(bytes), { longs: String, bytes: Buffer, defaults: true, enums: String }) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export type CallType = 'unary' | 'server-stream' | 'bidi';

export interface Method {
  /** Full gRPC path, e.g. `/rpmem.v1.Target/Create`. */
  path: string;
  callType: CallType;
  /** Request message type in rpmem.v1, when the method is one of ours. */
  request?: string;
}

const SVC = '/rpmem.v1.Target/';

/** Every method of rpmem.v1.Target. */
export const TARGET_METHODS: Method[] = [
  { path: `${SVC}Create`, callType: 'unary', request: 'CreateRequest' },
  { path: `${SVC}Open`, callType: 'unary', request: 'OpenRequest' },
  { path: `${SVC}Close`, callType: 'unary', request: 'CloseRequest' },
  { path: `${SVC}Remove`, callType: 'unary', request: 'RemoveRequest' },
  { path: `${SVC}SetAttr`, callType: 'unary', request: 'SetAttrRequest' },
  { path: `${SVC}Stat`, callType: 'unary', request: 'StatRequest' },
  { path: `${SVC}List`, callType: 'unary', request: 'ListRequest' },
  { path: `${SVC}Fence`, callType: 'unary', request: 'FenceRequest' },
  { path: `${SVC}SetSyncState`, callType: 'unary', request: 'SetSyncStateRequest' },
  { path: `${SVC}Checksums`, callType: 'server-stream', request: 'ChecksumsRequest' },
  { path: `${SVC}Persist`, callType: 'bidi', request: 'PersistRequest' },
  { path: `${SVC}Read`, callType: 'server-stream', request: 'ReadRequest' },
];

/** Paths that are not rpmem.v1.Target methods: unknown ones, and the other services rpmemd may serve. */
export const OTHER_PATHS: Method[] = [
  { path: `${SVC}Nope`, callType: 'unary' },
  { path: SVC, callType: 'unary' },
  { path: '/rpmem.v1.Target', callType: 'unary' },
  { path: '/rpmem.v2.Target/Create', callType: 'unary' },
  { path: '/', callType: 'unary' },
  { path: '/x', callType: 'bidi' },
  { path: `${SVC}create`, callType: 'unary' },
  { path: `${SVC}Create/extra`, callType: 'unary' },
  { path: '/grpc.health.v1.Health/Check', callType: 'unary' },
  { path: '/grpc.health.v1.Health/Watch', callType: 'server-stream' },
  { path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', callType: 'bidi' },
  { path: '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', callType: 'bidi' },
];

/** Names Persist cases mostly write to (other cases name them rarely, so writers find them free). */
export const PERSIST_POOL_NAMES = ['fz-p0', 'fz-p1', 'fz-p2', 'fz-p3'];
const SHARED_POOL_NAMES = ['fz-a', 'fz-b', 'fz-c', 'fz.d_1', 'Z9', 'x'.repeat(128)];
/** Every valid pool name the fuzzer may create; the sentinel's name is never among them. */
export const FUZZ_POOL_NAMES = [...SHARED_POOL_NAMES, ...PERSIST_POOL_NAMES];
/** Names the daemon must refuse (path traversal, empty, too long, control characters...). */
export const BAD_NAMES = [
  '../x',
  '',
  'x'.repeat(200),
  '\0',
  'a\0b',
  '/etc/passwd',
  '.hidden',
  'fz-a/..',
  'é',
  ' fz-a',
  'fz-a ',
  'x'.repeat(129),
  '..',
  '.',
  'fz-a\n',
];

/** Sizes of Create: 0, within the header, tiny, ordinary, at and past the limit, and past 2^53 and 2^64. */
export function poolSizes(maxPoolBytes: number): string[] {
  return [
    '0',
    '1',
    '4096',
    '4097',
    '8192',
    String(HEADER_BYTES + 65536),
    String(HEADER_BYTES + 1024 * 1024),
    String(maxPoolBytes),
    String(maxPoolBytes + 1),
    String(2 ** 53),
    String(2n ** 63n),
    String(2n ** 64n - 1n),
  ];
}

/** What a generator knows of the daemon's state: handles it was given, and their pools. */
export interface FuzzState {
  /** Handles seen in Open responses, newest last (bounded). */
  handles: { handle: string; name: string; durableSeq: bigint; poolSize: number }[];
  maxPoolBytes: number;
  maxRangeBytes: number;
}

export function randomName(rng: Rng): string {
  const r = rng.float();
  if (r < 0.65) return rng.pick(SHARED_POOL_NAMES);
  if (r < 0.7) return rng.pick(PERSIST_POOL_NAMES);
  if (r < 0.95) return rng.pick(BAD_NAMES);
  // Random UTF-8 (kept away from the sentinel's "sentinel-" prefix by construction: it starts with "~" or a control byte).
  return '~' + rng.bytes(rng.int(12)).toString('latin1');
}

export function randomHandle(rng: Rng, state: FuzzState): string {
  if (state.handles.length > 0 && rng.chance(0.7)) return rng.pick(state.handles).handle;
  return rng.pick(['', 'no-such-handle', '00000000-0000-0000-0000-000000000000', 'x'.repeat(300), '\0', rng.bytes(16).toString('hex')]);
}

function version(rng: Rng): number {
  return rng.chance(0.8) ? 1 : rng.pick([0, 2, 0xffffffff]);
}

function attrBytes(rng: Rng, size: number): Buffer {
  if (rng.chance(0.8)) return rng.bytes(size);
  return rng.bytes(rng.pick([0, 1, size - 1, size + 1, 64]));
}

export function randomAttr(rng: Rng): Record<string, unknown> {
  return {
    signature: attrBytes(rng, 8),
    major: rng.chance(0.5) ? rng.int(8) : rng.u32(),
    compatFeatures: rng.u32(),
    incompatFeatures: rng.u32(),
    roCompatFeatures: rng.u32(),
    poolsetUuid: attrBytes(rng, 16),
    uuid: attrBytes(rng, 16),
    nextUuid: attrBytes(rng, 16),
    prevUuid: attrBytes(rng, 16),
    userFlags: attrBytes(rng, 16),
  };
}

/** A plausible (mostly valid, sometimes edge-case) request object for `type`. */
export function randomRequest(rng: Rng, type: string, state: FuzzState): Record<string, unknown> {
  switch (type) {
    case 'CreateRequest':
      return {
        protocolVersion: version(rng),
        name: randomName(rng),
        poolSize: rng.chance(0.85) ? rng.pick(poolSizes(state.maxPoolBytes)) : rng.u64(),
        ...(rng.chance(0.5) ? { attr: randomAttr(rng) } : {}),
      };
    case 'OpenRequest':
      return { protocolVersion: version(rng), name: randomName(rng), mode: rng.chance(0.9) ? rng.int(2) : rng.u32(), ...randomClaim(rng) };
    case 'CloseRequest':
      return { handle: randomHandle(rng, state) };
    case 'RemoveRequest':
    case 'StatRequest':
      return { protocolVersion: version(rng), name: randomName(rng) };
    case 'ListRequest':
      return { protocolVersion: version(rng) };
    case 'SetAttrRequest':
      return { handle: randomHandle(rng, state), ...(rng.chance(0.8) ? { attr: randomAttr(rng) } : {}) };
    case 'FenceRequest':
      return { protocolVersion: version(rng), name: randomName(rng), ...randomClaim(rng) };
    case 'SetSyncStateRequest':
      return {
        handle: randomHandle(rng, state),
        syncState: rng.chance(0.9) ? rng.int(2) : rng.u32(),
        lsn: rng.chance(0.5) ? String(rng.int(100)) : rng.u64(),
        ...randomClaim(rng),
      };
    case 'ChecksumsRequest':
    case 'ReadRequest': {
      const size = state.handles.length > 0 ? rng.pick(state.handles).poolSize : HEADER_BYTES + 65536;
      const offset = rng.chance(0.6) ? String(HEADER_BYTES + rng.int(Math.max(1, size - HEADER_BYTES))) : rng.u64();
      const length = rng.chance(0.6) ? String(rng.range(0, Math.max(0, size - Number(offset)))) : rng.u64();
      const blockBytes = rng.chance(0.6) ? 2 ** rng.range(12, 24) : rng.pick([0, 1, 4095, 4097, 2 ** 25, 0xffffffff, rng.u32()]);
      return type === 'ReadRequest'
        ? { handle: randomHandle(rng, state), offset, length }
        : { handle: randomHandle(rng, state), offset, length, blockBytes };
    }
    case 'PersistRequest':
      return rng.chance(0.3) ? { start: randomStart(rng, state) } : { batch: randomBatch(rng, state, 1n, HEADER_BYTES + 65536) };
    default:
      return {};
  }
}

export function randomStart(rng: Rng, state: FuzzState, handle?: string): Record<string, unknown> {
  const epoch = rng.chance(0.7) ? '0' : rng.chance(0.5) ? String(rng.int(4)) : rng.u64();
  return { protocolVersion: version(rng), handle: handle ?? randomHandle(rng, state), epoch };
}

/** A random valid LSN: rpmemd refuses one above 2^53 - 1 (persist-codec decodes uint64s to numbers). */
function safeLsn(rng: Rng): string {
  return String(BigInt(rng.u64()) % 2n ** 53n);
}

/** One range: valid at `seq` inside `[HEADER_BYTES, poolSize)` most of the time, else broken in one way. */
export function randomRange(
  rng: Rng,
  seq: bigint,
  poolSize: number,
  maxRangeBytes: number,
): { range: Record<string, unknown>; valid: boolean } {
  const room = Math.max(1, poolSize - HEADER_BYTES);
  const length = rng.chance(0.9) ? rng.range(1, Math.min(rng.pick([16, 512, 4096, maxRangeBytes]), room)) : 0;
  const data = rng.bytes(length);
  const offset = HEADER_BYTES + rng.int(Math.max(1, room - length + 1));
  const range: Record<string, unknown> = {
    seq: seq.toString(),
    offset: String(offset),
    data,
    crc32c: crc32c(data),
    flags: rng.chance(0.2) ? 1 : 0,
    lsn: rng.chance(0.7) ? '0' : safeLsn(rng),
  };
  if (length === 0) return { range, valid: false };
  if (rng.chance(0.7)) return { range, valid: true };
  switch (rng.int(9)) {
    case 0:
      range.seq = rng.chance(0.5) ? String(seq + BigInt(rng.pick([-1, 1, 2, 1000]))) : rng.u64();
      if (range.seq === seq.toString()) range.seq = String(seq + 1n);
      break;
    case 1:
      range.offset = rng.pick([
        String(2n ** 64n - 1n),
        String(2n ** 64n - BigInt(length)),
        String(2n ** 63n),
        String(2 ** 53),
        String(2 ** 53 - 1),
      ]);
      break;
    case 2:
      range.offset = String(rng.int(HEADER_BYTES));
      break;
    case 3:
      range.offset = String(poolSize - Math.max(0, length - 1 - rng.int(2)));
      break;
    case 4: {
      const big = rng.bytes(maxRangeBytes + 1 + rng.int(16));
      range.data = big;
      range.crc32c = crc32c(big);
      break;
    }
    case 5:
      range.crc32c = (crc32c(data) ^ (1 << rng.int(32))) >>> 0;
      break;
    case 6:
      // Any bit but RANGE_FLAG_DEEP (bit 0).
      range.flags = rng.chance(0.5) ? (2 ** rng.range(1, 31)) >>> 0 : (rng.u32() | 2) >>> 0;
      break;
    case 7:
      range.offset = String(poolSize);
      break;
    default:
      range.data = Buffer.alloc(0);
      range.crc32c = 0;
  }
  return { range, valid: false };
}

/** A batch of 0..n ranges starting at `seq` (0 ranges sometimes: an empty batch). */
export function randomBatch(rng: Rng, state: FuzzState, seq: bigint, poolSize: number): Record<string, unknown> {
  const n = rng.chance(0.1) ? 0 : rng.range(1, rng.pick([1, 4, 16]));
  const ranges = [];
  for (let i = 0; i < n; i++) ranges.push(randomRange(rng, seq + BigInt(i), poolSize, state.maxRangeBytes).range);
  return { ranges };
}

/**
 * A PersistBatch of `count` valid one-byte ranges from seq `first`, spread over the first
 * `min(4096, poolSize - HEADER_BYTES)` data bytes: the decode-amplification shape (850,000 of
 * them fit under the default max-message-bytes). Encoded with persist-codec, which builds a
 * message of that size in well under a second.
 */
export function tinyRangesBatch(first: bigint, count: number, poolSize: number): Buffer {
  const data = Buffer.from([0x5a]);
  const crc = crc32c(data);
  const room = Math.max(1, Math.min(4096, poolSize - HEADER_BYTES));
  const ranges: PersistRange[] = [];
  for (let i = 0; i < count; i++)
    ranges.push({ seq: Number(first) + i, offset: HEADER_BYTES + (i % room), data, crc32c: crc, flags: 0, lsn: 0 });
  return encodePersistRequest({ kind: 'batch', ranges });
}

// ---- wire-level protobuf ----

interface Field {
  num: number;
  wire: number;
  /** The payload: varint bytes, fixed bytes, or a LEN field's contents. */
  body: Buffer;
}

export function varint(v: bigint): Buffer {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return Buffer.from(out);
}

function readVarint(buf: Buffer, at: number): { value: bigint; next: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (at + i >= buf.length) return undefined;
    const b = buf[at + i];
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return { value, next: at + i + 1 };
  }
  return undefined;
}

/** Splits an encoded message into its fields; undefined if it does not parse at this level. */
function parseFields(buf: Buffer): Field[] | undefined {
  const fields: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const key = readVarint(buf, at);
    if (key === undefined) return undefined;
    const num = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    at = key.next;
    if (wire === 0) {
      const v = readVarint(buf, at);
      if (v === undefined) return undefined;
      fields.push({ num, wire, body: buf.subarray(at, v.next) });
      at = v.next;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (at + n > buf.length) return undefined;
      fields.push({ num, wire, body: buf.subarray(at, at + n) });
      at += n;
    } else if (wire === 2) {
      const len = readVarint(buf, at);
      if (len === undefined || len.next + Number(len.value) > buf.length) return undefined;
      fields.push({ num, wire, body: buf.subarray(len.next, len.next + Number(len.value)) });
      at = len.next + Number(len.value);
    } else {
      return undefined;
    }
  }
  return fields;
}

function key(num: number, wire: number): Buffer {
  return varint((BigInt(num) << 3n) | BigInt(wire));
}

function serializeField(f: Field): Buffer {
  return f.wire === 2 ? Buffer.concat([key(f.num, 2), varint(BigInt(f.body.length)), f.body]) : Buffer.concat([key(f.num, f.wire), f.body]);
}

function serializeFields(fields: Field[]): Buffer {
  return Buffer.concat(fields.map(serializeField));
}

export type MutationName =
  | 'flip'
  | 'truncate'
  | 'extend'
  | 'duplicate'
  | 'delete'
  | 'huge-varint'
  | 'overlong-varint'
  | 'wrong-wire'
  | 'huge-length'
  | 'unknown-field'
  | 'splice'
  | 'nested'
  | 'repeat'
  | 'group-bomb'
  | 'bad-group'
  | 'empty';

const MUTATIONS: MutationName[] = [
  'flip',
  'truncate',
  'extend',
  'duplicate',
  'delete',
  'huge-varint',
  'overlong-varint',
  'wrong-wire',
  'huge-length',
  'unknown-field',
  'splice',
  'nested',
  'repeat',
  'group-bomb',
  'bad-group',
  'empty',
];

/** Applies one named mutation to `msg`; `other` is a second valid encoding to splice from. */
export function mutateOnce(rng: Rng, msg: Buffer, other: Buffer, name: MutationName = rng.pick(MUTATIONS)): Buffer {
  const fields = parseFields(msg);
  switch (name) {
    case 'flip': {
      const out = Buffer.from(msg);
      if (out.length === 0) return rng.bytes(1);
      for (let i = rng.range(1, 4); i > 0; i--) out[rng.int(out.length)] ^= 1 << rng.int(8);
      return out;
    }
    case 'truncate':
      return msg.subarray(0, rng.int(msg.length + 1));
    case 'extend':
      return Buffer.concat([msg, rng.bytes(rng.range(1, 32))]);
    case 'splice': {
      const a = rng.int(msg.length + 1);
      const b = rng.int(other.length + 1);
      return Buffer.concat([msg.subarray(0, a), other.subarray(b)]);
    }
    case 'group-bomb': {
      // Deeply nested start-group tags of an unknown field: a recursive skipper must not blow the stack of the daemon.
      const depth = rng.pick([100, 1000, 20000, 100000]);
      const open = key(rng.range(50, 60), 3);
      const parts = Array<Buffer>(depth).fill(open);
      if (rng.chance(0.5)) parts.push(...Array<Buffer>(depth).fill(key(rng.range(50, 60), 4)));
      return Buffer.concat([msg, ...parts]);
    }
    case 'bad-group':
      return Buffer.concat([msg, key(rng.range(1, 20), rng.pick([3, 4, 6, 7])), rng.bytes(rng.int(8))]);
    case 'empty':
      return Buffer.alloc(0);
    case 'repeat': {
      const piece = msg.subarray(0, Math.max(1, rng.int(msg.length + 1)));
      const times = Math.max(1, Math.min(rng.pick([2, 16, 1000]), Math.floor(MAX_MUTATED_BYTES / piece.length)));
      return Buffer.concat(Array<Buffer>(times).fill(piece));
    }
    default:
      break;
  }
  if (fields === undefined || fields.length === 0) {
    // Nothing to work on at field level: add an unknown field instead.
    return Buffer.concat([msg, serializeField({ num: rng.range(1, 1 << 29), wire: 0, body: varint(BigInt(rng.u32())) })]);
  }
  const i = rng.int(fields.length);
  const f = fields[i];
  switch (name) {
    case 'duplicate':
      fields.splice(rng.int(fields.length + 1), 0, { ...f });
      return serializeFields(fields);
    case 'delete':
      fields.splice(i, 1);
      return serializeFields(fields);
    case 'huge-varint':
      fields[i] = { num: f.num, wire: 0, body: varint(rng.pick([2n ** 64n - 1n, 2n ** 63n, 2n ** 32n, 2n ** 32n - 1n, 2n ** 53n + 1n])) };
      return serializeFields(fields);
    case 'overlong-varint': {
      // 11 continuation bytes: longer than any valid varint.
      const body = Buffer.from([...Array<number>(rng.range(10, 12)).fill(0xff), 0x01]);
      return Buffer.concat([...fields.slice(0, i).map(serializeField), key(f.num, 0), body, ...fields.slice(i + 1).map(serializeField)]);
    }
    case 'wrong-wire': {
      const wire = rng.pick([0, 1, 2, 5].filter((w) => w !== f.wire));
      const body = wire === 0 ? varint(BigInt(rng.u32())) : wire === 1 ? rng.bytes(8) : wire === 5 ? rng.bytes(4) : rng.bytes(rng.int(24));
      fields[i] = { num: f.num, wire, body };
      return serializeFields(fields);
    }
    case 'huge-length': {
      const declared = rng.pick([2n ** 31n - 1n, 2n ** 32n - 1n, 2n ** 64n - 1n, BigInt(f.body.length + 1)]);
      return Buffer.concat([
        ...fields.slice(0, i).map(serializeField),
        key(f.num, 2),
        varint(declared),
        f.body,
        ...fields.slice(i + 1).map(serializeField),
      ]);
    }
    case 'unknown-field':
      fields.splice(rng.int(fields.length + 1), 0, {
        num: rng.pick([15, 16, 99, 1 << 20, (1 << 29) - 1]),
        wire: rng.pick([0, 1, 2, 5]),
        body: rng.bytes(8),
      });
      return serializeFields(fields);
    case 'nested': {
      const lens = fields.filter((g) => g.wire === 2 && g.body.length > 0);
      if (lens.length === 0) return mutateOnce(rng, msg, other, 'flip');
      const g = rng.pick(lens);
      g.body = mutateOnce(rng, g.body, other);
      return serializeFields(fields);
    }
    default:
      return mutateOnce(rng, msg, other, 'flip');
  }
}

/** One to three mutations of a valid encoding. */
export function mutate(rng: Rng, msg: Buffer, other: Buffer): Buffer {
  let out = msg;
  for (let n = rng.range(1, 3); n > 0; n--) out = mutateOnce(rng, out, other);
  return out;
}

/** Random bytes skewed small, sometimes a few KiB, rarely near `max`. */
export function randomBytes(rng: Rng, max: number): Buffer {
  return rng.bytes(rng.chance(0.02) ? rng.int(max + 1) : rng.size(4096));
}

/** One gRPC length-prefixed message: compressed flag, 4-byte big-endian length, body. */
export function grpcFrame(body: Buffer, compressed = 0, declaredLength = body.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(compressed & 0xff, 0);
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, body]);
}

/** Epoch-claim fields: mostly small epochs under one of a few claimants, sometimes extreme or malformed. */
function randomClaim(rng: Rng): { epoch: string; claimant: Buffer } {
  const epoch = rng.chance(0.6) ? String(rng.int(6)) : rng.pick([rng.u64(), String(2 ** 53), '9007199254740991', '18446744073709551615']);
  const claimant = rng.chance(0.8) ? Buffer.alloc(16, rng.int(3)) : Buffer.alloc(rng.pick([0, 1, 15, 17]), 0xcc);
  return { epoch, claimant };
}
