/**
 * The state of a group as etcd holds it, for `rpmem status --etcd`: the leader and its lease's
 * remaining TTL, the epoch counter, what the primary published, and every registered member.
 */
import type { Etcd3 } from 'etcd3';
import { ClusterKeys, MemberRecord, PrimaryRecord } from './cluster-keys';
import { etcdError } from './etcd-client';
import { readEpoch } from './epoch-counter';

export interface ClusterState {
  /** The member holding the leader key, if any. */
  leader?: string;
  /** Seconds left on the leader's lease (etcd rounds down). */
  leaseTtlSeconds?: number;
  /** The epoch counter: the epoch of the current (or last) primary. */
  epoch: bigint;
  primary?: PrimaryRecord;
  members: MemberRecord[];
}

export async function readClusterState(client: Etcd3, keys: ClusterKeys): Promise<ClusterState> {
  try {
    const leaderKv = (await client.get(keys.leader).exec()).kvs[0];
    const epoch = await readEpoch(client, keys);
    const primaryText = await client.get(keys.primary).string();
    const members = Object.values(await client.getAll().prefix(keys.membersPrefix).strings()).map((v) => JSON.parse(v) as MemberRecord);
    let leaseTtlSeconds: number | undefined;
    if (leaderKv !== undefined && leaderKv.lease !== '0') {
      leaseTtlSeconds = Number((await client.leaseClient.leaseTimeToLive({ ID: leaderKv.lease })).TTL);
    }
    return {
      leader: leaderKv?.value.toString(),
      leaseTtlSeconds,
      epoch,
      primary: primaryText === null ? undefined : (JSON.parse(primaryText) as PrimaryRecord),
      members: members.sort((a, b) => a.member.localeCompare(b.member)),
    };
  } catch (err) {
    throw etcdError('read cluster state', err);
  }
}
