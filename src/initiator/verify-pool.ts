/**
 * Offline verify: compares a local pool file with each of its replicas block by block, without
 * opening it for replication (for `rpmem verify`, and for operators while the primary is stopped).
 */
import { RpmemError } from '../storage/errors';
import { differingBlocks, toRanges, DifferingRange } from './block-compare';
import { blockBytesFor } from './dirty-map';
import type { ConnectOptions } from './options';
import { Pool } from './pool';
import { RemotePool } from './remote-pool';
import { parseReplica } from './replica';

export interface PoolVerify {
  replica: string;
  compared: boolean;
  differing: DifferingRange[];
  /** Why the replica could not be compared. */
  error?: string;
}

/** How far verify has got with one replica. */
export interface VerifyProgress {
  replica: string;
  bytesCompared: number;
  bytesTotal: number;
}

/**
 * Compares the pool at `path` with `replicas` (`host:port/name`), one replica after the other; the
 * local pool must not be open elsewhere. `onProgress` is called as each window of blocks is compared.
 */
export async function verifyPool(
  path: string,
  replicas: string[],
  connect: ConnectOptions = {},
  onProgress?: (p: VerifyProgress) => void,
): Promise<PoolVerify[]> {
  const addresses = replicas.map(parseReplica);
  const local = await Pool.open(path);
  try {
    const block = blockBytesFor(local.size);
    const out: PoolVerify[] = [];
    for (const a of addresses) {
      try {
        const remote = await RemotePool.open(a.target, a.name, { ...connect, readOnly: true });
        try {
          const report = (bytesCompared: number): void => onProgress?.({ replica: a.spec, bytesCompared, bytesTotal: local.size });
          out.push({
            replica: a.spec,
            compared: true,
            differing: toRanges(await differingBlocks(local, remote, block, report), block, local.size),
          });
        } finally {
          await remote.close();
        }
      } catch (err) {
        const e = err as RpmemError;
        out.push({ replica: a.spec, compared: false, differing: [], error: `${e.code ?? 'ERROR'}: ${e.message}` });
      }
    }
    return out;
  } finally {
    await local.close();
  }
}
