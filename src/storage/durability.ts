/**
 * Durability: what a range made durable survives, as every ack, Open, Stat and persist result
 * reports it. Granularity says how stores are flushed (cache-line or page); durability says against
 * what, which is the question a user who "requires pmem" is asking.
 *
 * The levels are ranked by the failures they survive, each including the ones below:
 *
 *   pmem > page > emulated
 *
 * - `emulated` survives the death of the process that made the range durable, not a power loss or a
 *   kernel crash: cache-line flushes on an ordinary mapping land in the page cache, and a file on a
 *   RAM file system (tmpfs, ramfs: /dev/shm) has nowhere else to go, whatever the granularity.
 * - `page` survives power loss: fdatasync or msync of a file on storage returned (a device that
 *   acknowledges a cache flush it did not do defeats this, as it defeats every database).
 * - `pmem` survives power loss too, and at cache-line granularity: CLWB/CLFLUSHOPT/CLFLUSH + SFENCE
 *   on a DAX mapping (MAP_SYNC succeeded) reach the platform's persistence domain (ADR) without
 *   writing back a page. It ranks above `page` because its failure-atomic unit is smaller (an
 *   aligned 8-byte store, against a 512-byte sector) and no write-back stands between the store and
 *   the media; a `page` requirement accepts it.
 *
 * Note the order is not the one granularity suggests: emulated cache-line is finer than page but
 * weaker, since page survives power loss and emulated does not (docs/design.md I9).
 */
import { RpmemError, ErrorCode } from './errors';
import type { Granularity } from './native';

/** What a range made durable survives: `pmem` > `page` > `emulated` (see the module comment and docs/guarantees.md). */
export type Durability = 'pmem' | 'page' | 'emulated';

const RANK: Readonly<Record<Durability, number>> = { emulated: 0, page: 1, pmem: 2 };

/** Every level, weakest first. */
export const DURABILITY_LEVELS: readonly Durability[] = ['emulated', 'page', 'pmem'];

/** Linux statfs f_type of file systems whose files live in RAM only (linux/magic.h). */
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/** True for the statfs type of a RAM file system (tmpfs, ramfs): its synced pages survive no power loss. */
export function isVolatileFsType(type: number): boolean {
  return type === TMPFS_MAGIC || type === RAMFS_MAGIC;
}

/** How a mapping makes ranges durable, as the native layer and the file system report it. */
export interface MappingFacts {
  granularity: Granularity;
  /** MAP_SYNC succeeded: the file is on a DAX file system backed by persistent memory. */
  isPmem: boolean;
  /** The file lives on a RAM file system (see {@link isVolatileFsType}). */
  volatileFs: boolean;
}

/** The durability a mapping gives. */
export function durabilityOf(facts: MappingFacts): Durability {
  if (facts.granularity === 'cache-line') return facts.isPmem ? 'pmem' : 'emulated';
  return facts.volatileFs ? 'emulated' : 'page';
}

/** True when `have` survives at least what `required` does. */
export function meetsDurability(have: Durability, required: Durability): boolean {
  return RANK[have] >= RANK[required];
}

/** `value` as a requirement from a caller's options; undefined for none, RPMEM_E_INVALID_ARGUMENT for anything else. */
export function checkDurabilityRequirement(value: unknown, field = 'requireDurability'): Durability | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(RANK, value)) return value as Durability;
  throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `${field} must be one of ${DURABILITY_LEVELS.join(', ')}, got ${String(value)}`);
}

/** Throws RPMEM_E_DURABILITY naming `what` (a pool, a target) when `have` does not meet `required`. */
export function checkDurability(what: string, have: Durability, required: Durability | undefined): void {
  if (required === undefined || meetsDurability(have, required)) return;
  throw new RpmemError(
    ErrorCode.DURABILITY,
    `${what} gives ${have} durability (${SURVIVES[have]}); ${required} is required (${SURVIVES[required]})`,
  );
}

const SURVIVES: Readonly<Record<Durability, string>> = {
  emulated: 'survives process death, not power loss',
  page: 'survives power loss, page-synced',
  pmem: 'survives power loss, cache-line flushed to persistent memory',
};
