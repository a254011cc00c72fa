/**
 * The fencing epoch from etcd (docs/design.md I5): a counter key that only the leader may bump, by a
 * transaction that also checks the leader key is still this term's, and that the counter did not
 * move since it was read (compare-and-swap). The new epoch is one above both the counter and a
 * floor (the highest epoch any replica promised, so a manual promotion before does not make the
 * claim fail); it is stored back, so epochs from etcd only grow and never repeat.
 */
import type { Etcd3 } from 'etcd3';
import { RpmemError, ErrorCode } from '../../storage/errors';
import type { ClusterKeys } from './cluster-keys';
import { etcdError } from './etcd-client';

/** Attempts before giving up when the counter keeps moving under us (it should not: only the leader bumps it). */
const CAS_ATTEMPTS = 5;

/** The counter's value; 0 when it was never bumped. */
export async function readEpoch(client: Etcd3, keys: ClusterKeys): Promise<bigint> {
  const value = await client
    .get(keys.epoch)
    .string()
    .catch((err) => Promise.reject(etcdError('get epoch', err)));
  return value === null ? 0n : BigInt(value);
}

/**
 * Bumps the counter to max(counter, floor) + 1 while the leader key's create revision is
 * `leaderRevision`, and returns the new epoch. Rejects with RPMEM_E_FENCED when the leader key is
 * no longer this term's.
 */
export async function bumpEpoch(client: Etcd3, keys: ClusterKeys, leaderRevision: string, floor: bigint): Promise<bigint> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    let kv;
    try {
      kv = (await client.get(keys.epoch).exec()).kvs[0];
    } catch (err) {
      throw etcdError('get epoch', err);
    }
    const current = kv === undefined ? 0n : BigInt(kv.value.toString());
    const next = (current > floor ? current : floor) + 1n;
    let txn;
    try {
      txn = await client
        .if(keys.leader, 'Create', '==', leaderRevision)
        .and(keys.epoch, 'Mod', '==', kv === undefined ? 0 : kv.mod_revision)
        .then(client.put(keys.epoch).value(next.toString()))
        .else(client.get(keys.leader))
        .commit();
    } catch (err) {
      throw etcdError('bump epoch', err);
    }
    if (txn.succeeded) return next;
    const leader = txn.responses[0].response_range?.kvs[0];
    if (leader === undefined || leader.create_revision !== leaderRevision) {
      throw new RpmemError(ErrorCode.FENCED, 'lost the leader key before the epoch could be bumped');
    }
  }
  throw new RpmemError(ErrorCode.UNAVAILABLE, `the epoch counter moved ${CAS_ATTEMPTS} times while this leader bumped it`);
}
