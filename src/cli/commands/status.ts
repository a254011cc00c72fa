import { RpmemError, asRpmemError } from '../../storage/errors';
import { claimRefusal } from '../../storage/epoch-claim';
import { PoolFile } from '../../storage/pool-file';
import type { SyncState } from '../../storage/pool-header';
import type { Durability } from '../../storage/durability';
import type { Granularity } from '../../storage/native';
import { HEADER_BYTES } from '../../storage/pool-header';
import { peekDirtyMap } from '../../initiator/dirty-map';
import { RemotePool } from '../../initiator/remote-pool';
import { parseReplica } from '../../initiator/replica';
import { CONNECT_OPTIONS, Command, REPLICA_OPTIONS, UsageError, replicaArgs } from '../command';
import { formatBytes } from '../format';
import { clusterStatus } from './cluster-status';

/**
 * A replica's copy as `drbdadm status` would name it: UpToDate (nothing marked, clean, same epoch),
 * Outdated (blocks marked in the local dirty map), Inconsistent (a resync into it is incomplete),
 * Unknown (unreachable, or no complete dirty map: the next resync compares every block),
 * Fenced (it promised its epoch to another, newer primary), SizeMismatch.
 */
type PeerDisk = 'UpToDate' | 'Outdated' | 'Inconsistent' | 'Unknown' | 'Fenced' | 'SizeMismatch';

interface ReplicaReport {
  replica: string;
  reachable: boolean;
  disk: PeerDisk;
  error?: string;
  epoch?: bigint;
  lsn?: bigint;
  syncState?: SyncState;
  open?: boolean;
  /** Who writes the replica's pool (peer as the target sees it, and the epoch it stated). */
  holder?: { peer: string; epoch: bigint };
  /** The epoch of the writer whose history the replica holds, up to `lsn`. */
  historyEpoch?: bigint;
  /** What a range the replica's target makes durable survives, and how it flushes. */
  durability?: Durability;
  granularity?: Granularity;
  /** Blocks marked in the local dirty map; null when there is no complete map for this replica. */
  outOfSyncBlocks: number | null;
  outOfSyncBytes: number | null;
}

export const status: Command = {
  name: 'status',
  summary: 'show each replica of a local pool: reachable, epoch, LSN, sync state, out-of-sync blocks, durability',
  synopsis: '--pool PATH --replica HOST:PORT/NAME [--replica ...] | --etcd URL --group NAME',
  description: [
    'Reads the local pool header and dirty maps without locking them (so it works while the primary',
    'runs) and asks each replica for its state. Exits 0 only when every replica is UpToDate.',
    'While the primary writes, blocks written in the last second or so are still marked.',
    'With --etcd and --group it shows an automatic-failover group instead: the primary, its epoch',
    'and lease, the standbys, and each replica; exits 0 when a primary holds the lease and every',
    'replica is at its epoch.',
  ].join('\n'),
  options: {
    ...REPLICA_OPTIONS,
    etcd: { type: 'string', multiple: true, arg: 'URL', help: 'show the failover group in this etcd (repeat for each URL)' },
    group: { type: 'string', arg: 'NAME', help: 'the failover group, with --etcd' },
    'key-prefix': { type: 'string', arg: 'PREFIX', help: "root of the group's keys in etcd (default /rpmem/)" },
    ...CONNECT_OPTIONS,
  },
  examples: [
    'rpmem status --pool /var/lib/app/pool --replica node1:7420/pool --replica node2:7420/pool',
    'rpmem status --pool /var/lib/app/pool --replica node1:7420/pool --json',
    'rpmem status --etcd http://10.0.0.9:2379 --group app',
  ],
  async run(ctx) {
    if (ctx.values.etcd !== undefined) return clusterStatus(ctx);
    const { pool: path, replicas } = replicaArgs(ctx);
    const addresses = replicas.map((spec) => {
      try {
        return parseReplica(spec);
      } catch (err) {
        throw new UsageError((err as RpmemError).message);
      }
    });
    const local = PoolFile.peekHeader(path);
    const size = local.poolSize - HEADER_BYTES;
    const connect = ctx.connect();
    const reports = await Promise.all(
      addresses.map(async (a): Promise<ReplicaReport> => {
        const map = peekDirtyMap(path, local.poolUuid, a.spec, size);
        try {
          const info = await RemotePool.stat(a.target, a.name, connect);
          const complete = map?.completeFor?.equals(info.poolUuid) === true;
          const blocks = complete ? map!.markedBlocks : null;
          const disk: PeerDisk =
            info.size !== size
              ? 'SizeMismatch'
              : claimRefusal(info, local) !== undefined
                ? 'Fenced'
                : info.syncState === 'syncing'
                  ? 'Inconsistent'
                  : blocks === null
                    ? 'Unknown'
                    : blocks > 0
                      ? 'Outdated'
                      : 'UpToDate';
          const { epoch, lsn, syncState, open, holder, historyEpoch, durability, granularity } = info;
          return {
            replica: a.spec,
            reachable: true,
            disk,
            epoch,
            lsn,
            historyEpoch,
            syncState,
            open,
            holder,
            durability,
            granularity,
            outOfSyncBlocks: blocks,
            outOfSyncBytes: blocks === null ? null : blocks * map!.blockBytes,
          };
        } catch (err) {
          const e = asRpmemError(err);
          const blocks = map?.completeFor !== undefined ? map.markedBlocks : null;
          return {
            replica: a.spec,
            reachable: false,
            disk: 'Unknown',
            error: `${e.code}: ${e.message}`,
            outOfSyncBlocks: blocks,
            outOfSyncBytes: blocks === null ? null : blocks * map!.blockBytes,
          };
        }
      }),
    );
    const lines = [`${path} epoch:${local.epoch} size:${formatBytes(size)} durable-seq:${local.durableSeq}`];
    for (const r of reports) {
      const outOfSync =
        r.outOfSyncBlocks === null ? 'unknown (full resync)' : `${r.outOfSyncBlocks} blocks (${formatBytes(r.outOfSyncBytes!)})`;
      const open = r.holder === undefined ? 'no' : `yes holder:${r.holder.peer} holder-epoch:${r.holder.epoch}`;
      lines.push(`  ${r.replica} connection:${r.reachable ? 'Connected' : 'Unreachable'}${r.reachable ? ` open:${open}` : ''}`);
      lines.push(
        r.reachable
          ? `    peer-disk:${r.disk} epoch:${r.epoch} history-epoch:${r.historyEpoch} lsn:${r.lsn} sync:${r.syncState} out-of-sync:${outOfSync} durability:${r.durability} granularity:${r.granularity}`
          : `    peer-disk:${r.disk} out-of-sync:${outOfSync} error:${r.error}`,
      );
    }
    const healthy = reports.every((r) => r.disk === 'UpToDate');
    ctx.out.result(lines.join('\n'), { pool: path, epoch: local.epoch, size, durableSeq: local.durableSeq, healthy, replicas: reports });
    return healthy ? 0 : 1;
  },
};
