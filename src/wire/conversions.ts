/**
 * Every conversion between the proto messages and enums (src/generated/) and rpmem's own types:
 * the target and the initiator read and write the wire's shapes only through these. Enum values a
 * peer sends that this build does not declare are refused here, each with its stable code.
 */
import type { Granularity as WireGranularity } from '../generated/rpmem/v1/Granularity';
import type { PoolAttr as WirePoolAttr, PoolAttr__Output as WirePoolAttrOutput } from '../generated/rpmem/v1/PoolAttr';
import type { PoolInfo as WirePoolInfo, PoolInfo__Output } from '../generated/rpmem/v1/PoolInfo';
import type { Durability } from '../storage/durability';
import { EpochClaim, checkClaimant, checkEpochValue } from '../storage/epoch-claim';
import { RpmemError, ErrorCode } from '../storage/errors';
import type { Granularity } from '../storage/native';
import { PoolAttr, normalizeAttr } from '../storage/pool-attr';
import type { PoolFile } from '../storage/pool-file';
import { HEADER_BYTES, NO_CLAIMANT, SyncState } from '../storage/pool-header';

/** The proto Granularity names in the order of their numbers (GRANULARITY_UNSPECIFIED = 0 first). */
const GRANULARITY_NAMES = ['GRANULARITY_UNSPECIFIED', 'GRANULARITY_CACHE_LINE', 'GRANULARITY_PAGE'] as const;

const WIRE_GRANULARITY: Record<Granularity, (typeof GRANULARITY_NAMES)[number]> = {
  'cache-line': 'GRANULARITY_CACHE_LINE',
  page: 'GRANULARITY_PAGE',
};

/** Keyed by name; a Map, so that no inherited property of an object can pass for a name. */
const GRANULARITY_OF_NAME = new Map<unknown, Granularity>(
  (Object.keys(WIRE_GRANULARITY) as Granularity[]).map((g) => [WIRE_GRANULARITY[g], g]),
);

/** Granularity as the proto enum. */
export function toWireGranularity(g: Granularity): WireGranularity {
  return WIRE_GRANULARITY[g];
}

/** Granularity as the proto enum's number (PersistAck, which persist-codec encodes). */
export function toWireGranularityValue(g: Granularity): number {
  return GRANULARITY_NAMES.indexOf(WIRE_GRANULARITY[g]);
}

/** Granularity from the proto enum, by name or number; `undefined` for UNSPECIFIED or unknown values. */
export function fromWireGranularity(g: WireGranularity | string | number | undefined): Granularity | undefined {
  return GRANULARITY_OF_NAME.get(typeof g === 'number' ? GRANULARITY_NAMES[g] : g);
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

/** OpenRequest.mode. */
export function toWireOpenMode(readOnly: boolean): 'OPEN_MODE_READ_ONLY' | 'OPEN_MODE_READ_WRITE' {
  return readOnly ? 'OPEN_MODE_READ_ONLY' : 'OPEN_MODE_READ_WRITE';
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

/** OpenRequest.require_durability: UNSPECIFIED for no requirement. */
export function toWireDurabilityRequirement(d: Durability | undefined): WireDurabilityName {
  return d === undefined ? 'DURABILITY_UNSPECIFIED' : WIRE_DURABILITY[d];
}

/** OpenRequest.require_durability: undefined for UNSPECIFIED (no requirement); an undeclared value is RPMEM_E_INVALID_ARGUMENT. */
export function fromWireDurabilityRequirement(value: WireEnum): Durability | undefined {
  return fromWireEnum('require_durability', durabilityName(value), { DURABILITY_UNSPECIFIED: undefined, ...DURABILITY_OF_NAME });
}

/** PoolAttr as the proto message. */
export function toWireAttr(attr: PoolAttr): WirePoolAttr {
  return { ...attr };
}

/** PoolAttr from the proto message, validated. */
export function fromWireAttr(wire: WirePoolAttrOutput | null | undefined): PoolAttr {
  return normalizeAttr(wire ?? {});
}

/** What a target reports about a pool. */
export interface PoolInfo {
  name: string;
  /** Usable bytes (the data area). */
  size: number;
  poolUuid: Buffer;
  attr: PoolAttr;
  /** Highest sequence number the target has made durable. */
  durableSeq: bigint;
  /** The highest epoch the pool promised. */
  epoch: bigint;
  /** Who it promised it to (NO_CLAIMANT while unclaimed). */
  claimant: Buffer;
  /** How the target flushes stores to this pool. */
  granularity: Granularity;
  /**
   * What a range the target made durable in this pool survives: `pmem` (power loss, DAX),
   * `page` (power loss, fdatasync) or `emulated` (process death only). See {@link Durability}.
   */
  durability: Durability;
  /** True while a writer holds the pool. */
  open: boolean;
  /** The writer holding the pool: its address as the target sees it, and the epoch it stated (0 for none). */
  holder?: { peer: string; epoch: bigint };
  /** The epoch of the writer whose history this copy holds, up to `lsn`: promotion compares (historyEpoch, lsn). */
  historyEpoch: bigint;
  /** Highest replication LSN of that history applied. */
  lsn: bigint;
  /** `syncing` while a resync into this pool is incomplete (its history is then its last clean point). */
  syncState: SyncState;
}

/** A PoolInfo message as the initiator reads it. */
export function fromWirePoolInfo(wire: PoolInfo__Output | null): PoolInfo {
  if (wire === null) throw new RpmemError(ErrorCode.INTERNAL, 'target sent no pool info');
  return {
    name: wire.name,
    size: Number(wire.poolSize) - Number(wire.dataOffset),
    poolUuid: wire.poolUuid,
    attr: fromWireAttr(wire.attr),
    durableSeq: BigInt(wire.durableSeq),
    epoch: BigInt(wire.epoch),
    claimant: wire.claimant.length === 0 ? NO_CLAIMANT : wire.claimant,
    granularity: fromWireGranularity(wire.granularity) ?? 'page',
    durability: fromWireDurability('PoolInfo.durability', wire.durability),
    open: wire.open,
    ...(wire.open ? { holder: { peer: wire.holderPeer, epoch: BigInt(wire.holderEpoch) } } : {}),
    historyEpoch: BigInt(wire.historyEpoch),
    lsn: BigInt(wire.lsn),
    syncState: wire.syncState === 'SYNC_STATE_SYNCING' ? 'syncing' : 'clean',
  };
}

/** Where a PoolInfo's holder fields come from: who writes the pool now, if anyone. */
export type Holder = { peer: string; epoch: bigint } | undefined;

/** The PoolInfo message rpmemd sends for pool `name`. */
export function toWirePoolInfo(name: string, file: PoolFile, holder: Holder): WirePoolInfo {
  return {
    name,
    poolSize: file.poolSize,
    dataOffset: HEADER_BYTES,
    poolUuid: file.poolUuid,
    attr: toWireAttr(file.attr),
    durableSeq: file.durableSeq.toString(),
    epoch: file.epoch.toString(),
    granularity: toWireGranularity(file.granularity),
    open: holder !== undefined,
    lsn: file.lsn.toString(),
    syncState: toWireSyncState(file.syncState),
    claimant: file.claim.claimant,
    historyEpoch: file.historyEpoch.toString(),
    holderPeer: holder?.peer ?? '',
    holderEpoch: (holder?.epoch ?? 0n).toString(),
    durability: toWireDurability(file.durability),
  };
}

/** A claim from a request's epoch and claimant fields, checked; undefined for epoch 0 (none stated). */
export function fromWireClaim(epoch: string, claimant: Buffer): EpochClaim | undefined {
  const value = checkEpochValue(BigInt(epoch), 'epoch');
  return value === 0n ? undefined : { epoch: value, claimant: checkClaimant(claimant) };
}

/** RangeFlag.RANGE_FLAG_DEEP: also msync the range on cache-line granularity. */
const RANGE_FLAG_DEEP = 1;
const KNOWN_RANGE_FLAGS = RANGE_FLAG_DEEP;

/** A range's flags field. */
export function toWireRangeFlags(deep: boolean): number {
  return deep ? RANGE_FLAG_DEEP : 0;
}

/** The bits of a range's flags field this build does not declare (0 when all are known). */
export function unknownRangeFlags(flags: number): number {
  return flags & ~KNOWN_RANGE_FLAGS;
}

/** Whether a range's flags ask for a deep persist. */
export function isDeepRange(flags: number): boolean {
  return (flags & RANGE_FLAG_DEEP) !== 0;
}
