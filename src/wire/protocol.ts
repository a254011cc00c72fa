/**
 * The wire contract: loads proto/rpmem.proto once and names the constants both sides agree on.
 */
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/rpmem';
import type { TargetHandlers } from '../generated/rpmem/v1/Target';
import type { Granularity as WireGranularity } from '../generated/rpmem/v1/Granularity';
import type { Granularity } from '../storage/native';
import type { Durability } from '../storage/durability';
import { RpmemError, ErrorCode } from '../storage/errors';
import type { SyncState } from '../storage/pool-header';
import {
  DecodedPersistRequest,
  PersistAckFrame,
  PersistRequestFrame,
  decodePersistAck,
  decodePersistRequest,
  encodePersistAck,
  encodePersistRequest,
} from './persist-codec';

/** The protocol version this build speaks. A target refuses any other version. */
export const PROTOCOL_VERSION = 1;

/** Bytes at the start of every pool file reserved for its header; writes below this are refused. */
export const HEADER_BYTES = 4096;

/**
 * Default of rpmemd's max-batch-ranges, and the initiator's cap per message for a target that does
 * not state one: a 1 MiB message of 64-byte (cache-line) ranges, decoded in about 15 ms.
 */
export const DEFAULT_MAX_BATCH_RANGES = 16_384;

const PROTO_FILE = path.join(__dirname, '..', '..', '..', 'proto', 'rpmem.proto');

/** rpmem.proto as loaded by proto-loader: the services' and messages' descriptors (reflection serves these). */
export const rpmemPackageDefinition = protoLoader.loadSync(PROTO_FILE, {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** The loaded `rpmem.v1` package: `Target` is both the client constructor and its `.service`. */
export const rpmemV1 = (grpc.loadPackageDefinition(rpmemPackageDefinition) as unknown as ProtoGrpcType).rpmem.v1;

/**
 * What the initiator writes to a Persist stream: a frame, or one it already encoded — a batch is
 * encoded as it is queued on the stream, so its bytes are copied out of the application's buffer
 * at a known moment (DESIGN-NOTES I7) rather than whenever the stream's writable buffer drains.
 */
export type OutgoingPersistRequest = PersistRequestFrame | Buffer;

/** A method definition whose target side decodes to a wider type than its initiator side encodes. */
export interface PersistMethodDefinition extends grpc.ServerMethodDefinition<DecodedPersistRequest, PersistAckFrame> {
  requestSerialize: grpc.serialize<OutgoingPersistRequest>;
  responseDeserialize: grpc.deserialize<PersistAckFrame>;
}

/** The Persist method with persist-codec's (de)serializers in place of proto-loader's; same path, same wire bytes. */
export const persistMethod: PersistMethodDefinition = {
  path: rpmemV1.Target.service.Persist.path,
  originalName: rpmemV1.Target.service.Persist.originalName,
  requestStream: true,
  responseStream: true,
  requestSerialize: (m) => (Buffer.isBuffer(m) ? m : encodePersistRequest(m)),
  requestDeserialize: decodePersistRequest,
  responseSerialize: encodePersistAck,
  responseDeserialize: decodePersistAck,
};

/** The Target service as rpmemd registers it: proto-loader's definition with {@link persistMethod} for Persist. */
export const targetService: grpc.ServiceDefinition = { ...rpmemV1.Target.service, Persist: persistMethod };

/** Handlers for {@link targetService}: the generated ones, with Persist speaking persist-codec's types. */
export type TargetServiceHandlers = Omit<TargetHandlers, 'Persist'> & {
  Persist: grpc.handleBidiStreamingCall<DecodedPersistRequest, PersistAckFrame>;
};

const WIRE_GRANULARITY: Record<Granularity, WireGranularity> = {
  'cache-line': 'GRANULARITY_CACHE_LINE',
  page: 'GRANULARITY_PAGE',
};

/** Granularity as the proto enum. */
export function toWireGranularity(g: Granularity): WireGranularity {
  return WIRE_GRANULARITY[g];
}

/** Granularity from the proto enum; `undefined` for UNSPECIFIED or unknown values. */
export function fromWireGranularity(g: WireGranularity | string | number | undefined): Granularity | undefined {
  if (g === 'GRANULARITY_CACHE_LINE' || g === 1) return 'cache-line';
  if (g === 'GRANULARITY_PAGE' || g === 2) return 'page';
  return undefined;
}

/** A proto enum field as proto-loader hands it over: its name, or the bare number when undeclared. */
type WireEnum = string | number | null | undefined;

/**
 * The value of enum field `field` among `names` (proto enum name → domain value); `code`
 * (RPMEM_E_INVALID_ARGUMENT unless given) for any other.
 */
function fromWireEnum<T>(field: string, value: WireEnum, names: Record<string, T>, code = ErrorCode.INVALID_ARGUMENT): T {
  const name = value ?? Object.keys(names)[0];
  if (typeof name === 'string' && Object.prototype.hasOwnProperty.call(names, name)) return names[name];
  throw new RpmemError(code, `${field} must be one of ${Object.keys(names).join(', ')}, got ${String(value)}`);
}

/** OpenRequest.mode; an undeclared value is refused rather than read as read-write. */
export function fromWireOpenMode(mode: WireEnum): 'read-write' | 'read-only' {
  return fromWireEnum('mode', mode, { OPEN_MODE_READ_WRITE: 'read-write' as const, OPEN_MODE_READ_ONLY: 'read-only' as const });
}

/** SetSyncStateRequest.sync_state; an undeclared value is refused rather than read as CLEAN. */
export function fromWireSyncState(state: WireEnum): SyncState {
  return fromWireEnum('sync_state', state, { SYNC_STATE_CLEAN: 'clean' as const, SYNC_STATE_SYNCING: 'syncing' as const });
}

/** SyncState as the proto enum. */
export function toWireSyncState(state: SyncState): 'SYNC_STATE_CLEAN' | 'SYNC_STATE_SYNCING' {
  return state === 'syncing' ? 'SYNC_STATE_SYNCING' : 'SYNC_STATE_CLEAN';
}

/** The proto Durability names in the order of their numbers (DURABILITY_UNSPECIFIED = 0 first). */
const DURABILITY_NAMES = ['DURABILITY_UNSPECIFIED', 'DURABILITY_EMULATED', 'DURABILITY_PAGE', 'DURABILITY_PMEM'] as const;
type WireDurabilityName = (typeof DURABILITY_NAMES)[number];

const WIRE_DURABILITY: Record<Durability, WireDurabilityName> = {
  emulated: 'DURABILITY_EMULATED',
  page: 'DURABILITY_PAGE',
  pmem: 'DURABILITY_PMEM',
};

const DURABILITY_OF_NAME = Object.fromEntries(Object.entries(WIRE_DURABILITY).map(([d, name]) => [name, d])) as Record<string, Durability>;

/** A Durability field as a name: proto-loader hands over names, persist-codec the bare number. */
function durabilityName(value: WireEnum): WireEnum {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < DURABILITY_NAMES.length
    ? DURABILITY_NAMES[value]
    : value;
}

/** Durability as the proto enum's name (PoolInfo, OpenRequest). */
export function toWireDurability(d: Durability): WireDurabilityName {
  return WIRE_DURABILITY[d];
}

/** Durability as the proto enum's number (PersistAck, which persist-codec encodes). */
export function toWireDurabilityValue(d: Durability): number {
  return DURABILITY_NAMES.indexOf(WIRE_DURABILITY[d]);
}

/**
 * A durability a target reports (PoolInfo.durability, PersistAck.durability). UNSPECIFIED, what a
 * target that predates the field sends, is credited with the least every ack guarantees,
 * `emulated`; an undeclared value is refused with RPMEM_E_PROTOCOL (the target speaks a contract
 * this build does not know) rather than read as any level.
 */
export function fromWireDurability(field: string, value: WireEnum): Durability {
  return fromWireEnum(
    field,
    durabilityName(value),
    { DURABILITY_UNSPECIFIED: 'emulated' as const, ...DURABILITY_OF_NAME },
    ErrorCode.PROTOCOL,
  );
}

/** OpenRequest.require_durability: undefined for UNSPECIFIED (no requirement); an undeclared value is RPMEM_E_INVALID_ARGUMENT. */
export function fromWireDurabilityRequirement(value: WireEnum): Durability | undefined {
  return fromWireEnum('require_durability', durabilityName(value), { DURABILITY_UNSPECIFIED: undefined, ...DURABILITY_OF_NAME });
}
