/**
 * Promotion: after the primary is lost, make the pool at `path` on this node the new primary.
 *
 * 1. Fence: raise the epoch of a majority of replicas above every epoch seen, so the old primary
 *    can never again reach a write quorum (DESIGN-NOTES I5).
 * 2. Choose: among the fenced replicas that are CLEAN (not mid-resync), the one with the highest
 *    LSN holds every persist the old primary resolved (a quorum always intersects a majority).
 * 3. Copy it down into the local pool (whole, or only differing blocks when a local copy exists).
 * 4. Open a ReplicatedPool at the new epoch; every replica is resynced from it by checksum
 *    (DESIGN-NOTES I6: from the new primary only).
 */
import * as fs from 'fs';
import { RpmemError, ErrorCode } from '../common/errors';
import { differingBlocks } from './block-compare';
import { blockBytesFor, dirtyMapPath } from './dirty-map';
import { ConnectOptions, DEFAULT_CALL_TIMEOUT_MS } from './options';
import { Pool } from './pool';
import { RemotePool, PoolInfo } from './remote-pool';
import { ReplicaAddress, parseReplica } from './replica';
import { ReplicatedPool, ReplicatedPoolOptions } from './replicated-pool';

const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

/** Options of {@link promote}: those of the ReplicatedPool it opens, without `create`. */
export type PromoteOptions = Omit<ReplicatedPoolOptions, 'create'>;

interface Candidate {
  address: ReplicaAddress;
  info: PoolInfo;
}

/**
 * Promotes the pool at `path` (created if missing) to primary of `options.replicas` and returns it
 * open. Rejects with RPMEM_E_QUORUM when fewer than a majority of replicas can be fenced, or when
 * none of them is clean.
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

  const seen = await reachable(addresses, (a) => RemotePool.stat(a.target, a.name, connect));
  requireMajority(seen.length, majority, addresses.length, 'reachable');
  const localEpoch = fs.existsSync(path) ? await withLocal(path, options, async (p) => p.epoch) : 0n;
  const epoch = seen.reduce((max, c) => (c.info.epoch > max ? c.info.epoch : max), localEpoch) + 1n;

  const fenced = await reachable(
    seen.map((c) => c.address),
    (a) => RemotePool.fence(a.target, a.name, epoch, connect),
  );
  requireMajority(fenced.length, majority, addresses.length, 'fenced');
  const clean = fenced.filter((c) => c.info.syncState === 'clean');
  if (clean.length === 0) {
    throw new RpmemError(ErrorCode.QUORUM, 'no fenced replica is clean (every one is mid-resync): none is known to hold every acknowledged persist');
  }
  const best = clean.reduce((a, b) => (b.info.lsn > a.info.lsn ? b : a));
  const highestLsn = fenced.reduce((max, c) => (c.info.lsn > max ? c.info.lsn : max), 0n);

  await copyDown(path, best, options, connect);
  await withLocal(path, options, async (local) => {
    await local.raiseEpoch(epoch);
    await local.recordLsn(highestLsn);
  });
  // This node's dirty maps (if any) describe another primary's history: resync everything by checksum.
  for (const a of addresses) fs.rmSync(dirtyMapPath(path, a.spec), { force: true });
  return ReplicatedPool.open(path, options);
}

async function reachable(addresses: ReplicaAddress[], ask: (a: ReplicaAddress) => Promise<PoolInfo>): Promise<Candidate[]> {
  const answers = await Promise.allSettled(addresses.map(ask));
  return answers.flatMap((r, i) => (r.status === 'fulfilled' ? [{ address: addresses[i], info: r.value }] : []));
}

function requireMajority(got: number, majority: number, total: number, what: string): void {
  if (got < majority) {
    throw new RpmemError(ErrorCode.QUORUM, `only ${got} of ${total} replicas ${what}; promotion needs a majority (${majority})`);
  }
}

async function withLocal<T>(path: string, options: PromoteOptions, use: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = await Pool.open(path, options);
  try {
    return await use(pool);
  } finally {
    await pool.close();
  }
}

/** Makes the local pool at `path` a byte copy of `best`'s data area. */
async function copyDown(path: string, best: Candidate, options: PromoteOptions, connect: ConnectOptions): Promise<void> {
  const exists = fs.existsSync(path);
  const local = exists ? await Pool.open(path, options) : await Pool.create(path, { ...options, size: best.info.size });
  const source = await RemotePool.open(best.address.target, best.address.name, { ...connect, readOnly: true });
  try {
    if (local.size !== source.size) {
      throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `local pool has ${local.size} bytes, replica ${best.address.spec} ${source.size}`);
    }
    const block = blockBytesFor(local.size);
    const blocks = exists ? await differingBlocks(local, source, block) : undefined;
    const ranges = blocks === undefined
      ? chunks(local.size, COPY_CHUNK_BYTES)
      : blocks.map((b) => ({ offset: b * block, length: Math.min(block, local.size - b * block) }));
    for (const { offset, length } of ranges) {
      (await source.read(offset, length)).copy(local.buffer, offset);
      await local.persist(offset, length);
    }
  } finally {
    await source.close();
    await local.close();
  }
}

function chunks(size: number, chunk: number): Array<{ offset: number; length: number }> {
  const out = [];
  for (let offset = 0; offset < size; offset += chunk) out.push({ offset, length: Math.min(chunk, size - offset) });
  return out;
}
