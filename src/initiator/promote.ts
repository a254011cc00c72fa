/**
 * Promotion: after the primary is lost, make the pool at `path` on this node the new primary.
 *
 * 1. Claim: ask every replica to promise a new epoch under a fresh claimant. A pool promises an
 *    epoch only above the one it promised before (or the same one to the same claimant), so of two
 *    promoters at most one collects a majority, and the old primary can never again reach a write
 *    quorum (docs/design.md I5). The epoch is the caller's (a coordinator's counter) or one above the
 *    highest seen.
 * 2. Choose: the fenced replica whose history is newest — the epoch of the writer whose ranges it
 *    holds, then its LSN, as Raft compares logs (I6). Any write quorum of the old primary meets
 *    this majority, and a fenced replica's state can no longer change, so the choice holds every
 *    persist the old primary acknowledged. A resyncing replica competes with its last clean point.
 * 3. Copy it down into the local pool (whole, or only differing blocks when a local copy exists).
 * 4. Open a ReplicatedPool under the new claim; every replica is resynced from it (I6: from the new
 *    primary only), and it must bring up a majority.
 */
import * as fs from 'fs';
import { RpmemError, ErrorCode, asRpmemError } from '../storage/errors';
import { EpochClaim, checkEpochValue, newClaim } from '../storage/epoch-claim';
import { differingBlocks } from './block-compare';
import { blockBytesFor, dirtyMapPath } from './dirty-map';
import { ConnectOptions, DEFAULT_CALL_TIMEOUT_MS } from './options';
import { Pool } from './pool';
import { RemotePool } from './remote-pool';
import type { PoolInfo } from '../wire/conversions';
import { ReplicaAddress, parseReplica } from './replica';
import { ReplicatedPool, ReplicatedPoolOptions } from './replicated-pool';
import type { PromotionReport } from './promotion-report';

const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

/** Options of {@link promote}: those of the ReplicatedPool it opens, without `create`. */
export interface PromoteOptions extends Omit<ReplicatedPoolOptions, 'create'> {
  /**
   * The epoch to claim, e.g. from a coordinator whose counter only grows; it must be above every
   * epoch a replica promised (else RPMEM_E_FENCED). Default: one above the highest epoch seen.
   */
  epoch?: bigint;
}

interface Candidate {
  address: ReplicaAddress;
  info: PoolInfo;
}

interface Outcome {
  answered: Candidate[];
  missed: Array<{ address: ReplicaAddress; error: RpmemError }>;
}

/**
 * Promotes the pool at `path` (created if missing) to primary of `options.replicas` and returns it
 * open, with `promotion` saying what was done. The write policy defaults to `'majority'`. Rejects
 * with RPMEM_E_FENCED when a replica promised this epoch (or a higher one) to another primary
 * (retry with a higher epoch), and RPMEM_E_QUORUM when fewer than a majority of replicas can be
 * fenced or come up.
 */
export async function promote(path: string, options: PromoteOptions): Promise<ReplicatedPool> {
  const addresses = options.replicas.map(parseReplica);
  const majority = Math.floor(addresses.length / 2) + 1;
  const connect: ConnectOptions = {
    tls: options.tls,
    token: options.token,
    channelOptions: options.channelOptions,
    callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
  };
  if (options.epoch !== undefined && checkEpochValue(options.epoch, 'epoch') === 0n) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, 'epoch must be at least 1');
  }
  const claim = newClaim(options.epoch ?? (await nextEpoch(path, options, addresses, majority, connect)));
  const { answered: fenced, missed } = await ask(addresses, (a) => RemotePool.fence(a.target, a.name, claim, connect));
  if (fenced.length < majority) throw claimFailed(claim, fenced.length, majority, missed);
  const best = fenced.reduce((a, b) => (newerHistory(b.info, a.info) ? b : a));
  const report: PromotionReport = {
    epoch: claim.epoch,
    source: best.address.spec,
    sourceHistoryEpoch: best.info.historyEpoch,
    sourceLsn: best.info.lsn,
    sourceSyncing: best.info.syncState === 'syncing',
    highestLsn: fenced.reduce((max, c) => (c.info.lsn > max ? c.info.lsn : max), 0n),
    fenced: fenced.map((c) => c.address.spec),
    missed: missed.map((m) => ({ replica: m.address.spec, error: `${m.error.code}: ${m.error.message}` })),
    bytesCopied: 0,
  };

  report.bytesCopied = await copyDown(path, best, options, connect);
  await takeClaim(path, options, claim, report.highestLsn);
  // This node's dirty maps (if any) describe another primary's history: resync everything by checksum.
  for (const a of addresses) fs.rmSync(dirtyMapPath(path, a.spec), { force: true });
  const pool = await ReplicatedPool.open(path, { ack: 'majority', ...options });
  pool.recordPromotion(report);
  const up = pool.status().filter((s) => s.state === 'up').length;
  if (up < majority) {
    await pool.close();
    throw new RpmemError(
      ErrorCode.QUORUM,
      `promoted ${path} at epoch ${claim.epoch} from ${report.source}, but only ${up} of ${addresses.length} replicas came up; a primary needs a majority (${majority})`,
    );
  }
  return pool;
}

/** One above the highest epoch a majority of replicas and the local pool know of. */
async function nextEpoch(
  path: string,
  options: PromoteOptions,
  addresses: ReplicaAddress[],
  majority: number,
  connect: ConnectOptions,
): Promise<bigint> {
  const { answered, missed } = await ask(addresses, (a) => RemotePool.stat(a.target, a.name, connect));
  if (answered.length < majority) {
    throw new RpmemError(
      ErrorCode.QUORUM,
      `only ${answered.length} of ${addresses.length} replicas reachable; promotion needs a majority (${majority}): ${describe(missed)}`,
    );
  }
  const localEpoch = fs.existsSync(path) ? await withLocal(path, options, async (p) => p.epoch) : 0n;
  return answered.reduce((max, c) => (c.info.epoch > max ? c.info.epoch : max), localEpoch) + 1n;
}

async function ask(addresses: ReplicaAddress[], call: (a: ReplicaAddress) => Promise<PoolInfo>): Promise<Outcome> {
  const answers = await Promise.allSettled(addresses.map(call));
  const outcome: Outcome = { answered: [], missed: [] };
  answers.forEach((r, i) => {
    if (r.status === 'fulfilled') outcome.answered.push({ address: addresses[i], info: r.value });
    else
      outcome.missed.push({
        address: addresses[i],
        error: asRpmemError(r.reason),
      });
  });
  return outcome;
}

/** Newer history: a later writer's epoch first, then a higher LSN, then clean over mid-resync. */
function newerHistory(a: PoolInfo, b: PoolInfo): boolean {
  if (a.historyEpoch !== b.historyEpoch) return a.historyEpoch > b.historyEpoch;
  if (a.lsn !== b.lsn) return a.lsn > b.lsn;
  return a.syncState === 'clean' && b.syncState === 'syncing';
}

function claimFailed(claim: EpochClaim, got: number, majority: number, missed: Outcome['missed']): RpmemError {
  const refused = missed.some((m) => m.error.code === ErrorCode.FENCED);
  const why = `only ${got} replica(s) promised epoch ${claim.epoch}, promotion needs a majority (${majority}): ${describe(missed)}`;
  return refused
    ? new RpmemError(ErrorCode.FENCED, `${why}; another primary claimed this epoch or a higher one: promote again with a higher epoch`)
    : new RpmemError(ErrorCode.QUORUM, why);
}

function describe(missed: Outcome['missed']): string {
  return missed.map((m) => `${m.address.spec} ${m.error.code}`).join(', ') || 'none missing';
}

async function withLocal<T>(path: string, options: PromoteOptions, use: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = await Pool.open(path, options);
  try {
    return await use(pool);
  } finally {
    await pool.close();
  }
}

/** Makes the local pool this primary's under `claim`, with LSNs continuing above `highestLsn`. */
function takeClaim(path: string, options: PromoteOptions, claim: EpochClaim, highestLsn: bigint): Promise<void> {
  return withLocal(path, options, async (local) => {
    await local.claimEpoch(claim);
    await local.recordLsn(highestLsn);
  });
}

/** Makes the local pool at `path` a byte copy of `best`'s data area; returns the bytes copied. */
async function copyDown(path: string, best: Candidate, options: PromoteOptions, connect: ConnectOptions): Promise<number> {
  const exists = fs.existsSync(path);
  const local = exists ? await Pool.open(path, options) : await Pool.create(path, { ...options, size: best.info.size });
  let copied = 0;
  try {
    const source = await RemotePool.open(best.address.target, best.address.name, { ...connect, readOnly: true });
    try {
      if (local.size !== source.size) {
        throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `local pool has ${local.size} bytes, replica ${best.address.spec} ${source.size}`);
      }
      const block = blockBytesFor(local.size);
      const blocks = exists ? await differingBlocks(local, source, block) : undefined;
      const ranges =
        blocks === undefined
          ? chunks(local.size, COPY_CHUNK_BYTES)
          : blocks.map((b) => ({ offset: b * block, length: Math.min(block, local.size - b * block) }));
      for (const { offset, length } of ranges) {
        (await source.read(offset, length)).copy(local.buffer, offset);
        await local.persist(offset, length);
        copied += length;
      }
    } finally {
      await source.close();
    }
  } finally {
    await local.close();
  }
  return copied;
}

function chunks(size: number, chunk: number): Array<{ offset: number; length: number }> {
  const out = [];
  for (let offset = 0; offset < size; offset += chunk) out.push({ offset, length: Math.min(chunk, size - offset) });
  return out;
}
