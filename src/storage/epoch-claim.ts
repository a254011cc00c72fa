/**
 * Epoch claims: the promise a pool makes to one writer (docs/design.md I5).
 *
 * A pool promises an epoch to one claimant. It accepts a claim strictly above the epoch it promised,
 * or the same epoch from the same claimant (a primary reattaching), or the same epoch while nobody
 * claimed it yet (a new pool meeting its first primary). Everything else is refused, so of two
 * promoters claiming one epoch at most one collects a majority: each pool says yes to only one.
 */
import * as crypto from 'crypto';
import { RpmemError, ErrorCode } from './errors';
import { CLAIMANT_BYTES, NO_CLAIMANT } from './pool-header';

/** An epoch and who claims it. */
export interface EpochClaim {
  epoch: bigint;
  /** CLAIMANT_BYTES random bytes chosen by the promoter (or the pool's first primary). */
  claimant: Buffer;
}

/** A claim on `epoch` under a fresh random claimant: what a promoter (or a new primary) asks pools to promise. */
export function newClaim(epoch: bigint): EpochClaim {
  return { epoch, claimant: crypto.randomBytes(CLAIMANT_BYTES) };
}

/** The highest epoch and LSN the wire accepts: both travel as uint64 and are kept exact below 2^53. */
export const MAX_EPOCH = BigInt(Number.MAX_SAFE_INTEGER);

/** Why a pool that promised `held` refuses `claim`, or undefined when it accepts it. */
export function claimRefusal(held: EpochClaim, claim: EpochClaim): string | undefined {
  if (claim.epoch > held.epoch) return undefined;
  if (claim.epoch < held.epoch) {
    return `writer epoch ${claim.epoch} is below the pool's epoch ${held.epoch}: a newer primary owns this pool`;
  }
  if (held.claimant.equals(NO_CLAIMANT) || held.claimant.equals(claim.claimant)) return undefined;
  return `epoch ${claim.epoch} is already claimed by another primary (claimant ${claimantName(held.claimant)})`;
}

/** Throws RPMEM_E_FENCED when a pool that promised `held` refuses `claim`. */
export function checkClaim(held: EpochClaim, claim: EpochClaim): void {
  const refusal = claimRefusal(held, claim);
  if (refusal !== undefined) throw new RpmemError(ErrorCode.FENCED, refusal);
}

/**
 * Throws RPMEM_E_FENCED when pool `name`, which promised `held`, would take a plain writer (one
 * that states no epoch): only a pool no replication primary ever claimed does. Checked at Open
 * and again at PersistStart, so a plain writer learns it at Open, not at its first persist.
 */
export function checkPlainWriter(name: string, held: EpochClaim): void {
  if (held.claimant.equals(NO_CLAIMANT)) return;
  throw new RpmemError(
    ErrorCode.FENCED,
    `pool ${name} belongs to a replication primary (epoch ${held.epoch}, claimant ${claimantName(held.claimant)}): a writer must state its epoch`,
  );
}

/** True when `a` and `b` are the same promise. */
export function sameClaim(a: EpochClaim, b: EpochClaim): boolean {
  return a.epoch === b.epoch && a.claimant.equals(b.claimant);
}

/** A claimant as people read it: the first 8 hex digits (the whole id goes in Stat). */
export function claimantName(claimant: Buffer): string {
  return claimant.equals(NO_CLAIMANT) ? 'none' : claimant.toString('hex').slice(0, 8);
}

/** Throws RPMEM_E_INVALID_ARGUMENT unless `claimant` is CLAIMANT_BYTES long: a claim names who makes it. */
export function checkClaimant(claimant: Buffer): Buffer {
  if (claimant.length !== CLAIMANT_BYTES) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `a claim's claimant must be ${CLAIMANT_BYTES} bytes, got ${claimant.length}`);
  }
  return claimant;
}

/** Throws RPMEM_E_INVALID_ARGUMENT unless `value` (an epoch or LSN, named `what`) is at most MAX_EPOCH. */
export function checkEpochValue(value: bigint, what: string): bigint {
  if (value < 0n || value > MAX_EPOCH) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `${what} must be an integer from 0 to 2^53 - 1, got ${value}`);
  }
  return value;
}
