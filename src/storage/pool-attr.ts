/**
 * librpmem's pool attributes: opaque to rpmem, kept verbatim in the pool header for the application.
 */
import { RpmemError, ErrorCode } from './errors';

/** Pool attributes as librpmem defined them. Byte fields have fixed sizes; missing ones are zero. */
export interface PoolAttr {
  /** 8 bytes, e.g. `Buffer.from('MYPOOL\0\0')`. */
  signature: Buffer;
  major: number;
  compatFeatures: number;
  incompatFeatures: number;
  roCompatFeatures: number;
  /** 16 bytes each. */
  poolsetUuid: Buffer;
  uuid: Buffer;
  nextUuid: Buffer;
  prevUuid: Buffer;
  /** 16 bytes. */
  userFlags: Buffer;
}

const BYTE_FIELDS = {
  signature: 8,
  poolsetUuid: 16,
  uuid: 16,
  nextUuid: 16,
  prevUuid: 16,
  userFlags: 16,
} as const;

type ByteField = keyof typeof BYTE_FIELDS;

/** Bytes an encoded PoolAttr occupies in the header. */
export const POOL_ATTR_BYTES = 8 + 4 * 4 + 16 * 5;

function fixed(field: ByteField, value: Uint8Array | undefined): Buffer {
  const size = BYTE_FIELDS[field];
  if (value === undefined || value.length === 0) return Buffer.alloc(size);
  if (value.length !== size) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `attr.${field} must be ${size} bytes, got ${value.length}`);
  }
  return Buffer.from(value);
}

function u32(field: string, value: number | undefined): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `attr.${field} must be a 32-bit unsigned integer`);
  }
  return v;
}

/** Fills in defaults and checks sizes; throws RPMEM_E_INVALID_ARGUMENT. */
export function normalizeAttr(attr: Partial<PoolAttr> = {}): PoolAttr {
  return {
    signature: fixed('signature', attr.signature),
    major: u32('major', attr.major),
    compatFeatures: u32('compatFeatures', attr.compatFeatures),
    incompatFeatures: u32('incompatFeatures', attr.incompatFeatures),
    roCompatFeatures: u32('roCompatFeatures', attr.roCompatFeatures),
    poolsetUuid: fixed('poolsetUuid', attr.poolsetUuid),
    uuid: fixed('uuid', attr.uuid),
    nextUuid: fixed('nextUuid', attr.nextUuid),
    prevUuid: fixed('prevUuid', attr.prevUuid),
    userFlags: fixed('userFlags', attr.userFlags),
  };
}

/** Writes `attr` into `buf` at `at`; returns the offset after it. */
export function encodeAttr(attr: PoolAttr, buf: Buffer, at: number): number {
  let o = at;
  o += attr.signature.copy(buf, o);
  for (const n of [attr.major, attr.compatFeatures, attr.incompatFeatures, attr.roCompatFeatures]) {
    o = buf.writeUInt32LE(n, o);
  }
  for (const b of [attr.poolsetUuid, attr.uuid, attr.nextUuid, attr.prevUuid, attr.userFlags]) o += b.copy(buf, o);
  return o;
}

/** Reads a PoolAttr from `buf` at `at`. */
export function decodeAttr(buf: Buffer, at: number): PoolAttr {
  const bytes = (from: number, n: number): Buffer => Buffer.from(buf.subarray(at + from, at + from + n));
  return {
    signature: bytes(0, 8),
    major: buf.readUInt32LE(at + 8),
    compatFeatures: buf.readUInt32LE(at + 12),
    incompatFeatures: buf.readUInt32LE(at + 16),
    roCompatFeatures: buf.readUInt32LE(at + 20),
    poolsetUuid: bytes(24, 16),
    uuid: bytes(40, 16),
    nextUuid: bytes(56, 16),
    prevUuid: bytes(72, 16),
    userFlags: bytes(88, 16),
  };
}
