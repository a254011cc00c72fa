import { connectEtcd } from '../../initiator/failover/etcd-client';
import { clusterKeys } from '../../initiator/failover/cluster-keys';
import { DEFAULT_KEY_PREFIX } from '../../initiator/failover/candidate-options';
import { readClusterState } from '../../initiator/failover/cluster-state';
import { RemotePool } from '../../initiator/remote-pool';
import { parseReplica } from '../../initiator/replica';
import { Context, UsageError } from '../command';

const ETCD_TIMEOUT_MS = 5000;

/**
 * `rpmem status --etcd URL --group NAME`: the group as etcd and the replicas see it, as
 * `patronictl list` shows a Patroni cluster. Exits 0 when a primary holds the lease and every
 * replica answers at its epoch.
 */
export async function clusterStatus(ctx: Context): Promise<number> {
  const group = ctx.str('group');
  if (group === undefined) throw new UsageError('status --etcd needs --group NAME');
  const hosts = ctx.values.etcd as string[];
  const client = connectEtcd({ hosts }, ETCD_TIMEOUT_MS);
  let state;
  try {
    state = await readClusterState(client, clusterKeys(ctx.str('key-prefix') ?? DEFAULT_KEY_PREFIX, group));
  } finally {
    client.close();
  }
  const connect = ctx.connect();
  const replicas = await Promise.all(
    (state.primary?.replicas ?? []).map(async (spec) => {
      const a = parseReplica(spec);
      try {
        const info = await RemotePool.stat(a.target, a.name, connect);
        return { replica: spec, reachable: true, epoch: info.epoch, lsn: info.lsn, syncState: info.syncState, open: info.open };
      } catch (err) {
        return { replica: spec, reachable: false, error: (err as Error).message };
      }
    }),
  );
  const lines = [
    `group ${group}: primary ${state.leader ?? '(none)'} epoch:${state.epoch}${state.leaseTtlSeconds !== undefined ? ` lease-ttl:${state.leaseTtlSeconds}s` : ''}${state.primary ? ` since:${state.primary.since}` : ''}`,
    '  members:',
    ...state.members.map((m) => `    ${m.member} role:${m.member === state.leader ? 'primary' : m.role} pool:${m.pool} since:${m.since}`),
    '  replicas:',
    ...replicas.map((r) =>
      r.reachable
        ? `    ${r.replica} epoch:${r.epoch} lsn:${r.lsn} sync:${r.syncState} open:${r.open ? 'yes' : 'no'}`
        : `    ${r.replica} unreachable: ${r.error}`,
    ),
  ];
  const healthy = state.leader !== undefined && replicas.length > 0 && replicas.every((r) => r.reachable && r.epoch === state.epoch);
  ctx.out.result(lines.join('\n'), {
    group,
    ...state,
    standbys: state.members.filter((m) => m.member !== state.leader).map((m) => m.member),
    replicas,
    healthy,
  });
  return healthy ? 0 : 1;
}
