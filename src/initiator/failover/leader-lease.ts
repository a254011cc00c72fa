/**
 * The leader key on a lease. A candidate takes the key with a transaction that succeeds only while
 * the key does not exist (create revision 0), on a lease of its own; the create revision of the
 * key it wrote identifies this term of office. It then renews the lease itself, one keepalive at a
 * time, so it knows when each successful renewal was SENT: etcd restarts the lease's TTL when it
 * receives the keepalive, so (sent time + TTL) is never later than the moment etcd could expire it.
 */
import { performance } from 'perf_hooks';
import type { Etcd3 } from 'etcd3';
import { RpmemError, ErrorCode } from '../../storage/errors';
import type { ClusterKeys } from './cluster-keys';
import { etcdError, withTimeout } from './etcd-client';

/** The outcome of a campaign: won (with this term's create revision), or the current leader. */
export type Campaign = { won: true; lease: LeaderLease } | { won: false; leader: string | undefined };

export class LeaderLease {
  private revoked = false;

  private constructor(
    private readonly client: Etcd3,
    private readonly keys: ClusterKeys,
    /** The lease ID, as etcd3 spells it (a decimal string). */
    readonly id: string,
    /** The create revision of the leader key this term wrote. */
    readonly createRevision: string,
    /** The `performance.now()` from which the lease may have expired unless renewed. */
    readonly expiresAt: number,
    private readonly callTimeoutMs: number,
  ) {}

  /**
   * Tries once to take the leader key for `member`: grants a lease, then puts the key on it in a
   * transaction guarded by "the key does not exist". A lost race revokes the fresh lease.
   */
  static async campaign(client: Etcd3, keys: ClusterKeys, member: string, ttlSeconds: number, callTimeoutMs: number): Promise<Campaign> {
    const current = await client
      .get(keys.leader)
      .string()
      .catch((err) => Promise.reject(etcdError('get leader', err)));
    if (current !== null) return { won: false, leader: current };
    const grantSentAt = performance.now();
    const grant = await client.leaseClient
      .leaseGrant({ TTL: ttlSeconds, ID: 0 })
      .catch((err) => Promise.reject(etcdError('lease grant', err)));
    const id = grant.ID;
    try {
      const txn = await client
        .if(keys.leader, 'Create', '==', 0)
        .then(client.put(keys.leader).value(member).lease(id))
        .else(client.get(keys.leader))
        .commit();
      if (txn.succeeded) {
        const revision = txn.responses[0].response_put?.header.revision;
        if (revision === undefined) throw new RpmemError(ErrorCode.INTERNAL, 'etcd txn put answered without a revision');
        return { won: true, lease: new LeaderLease(client, keys, id, revision, grantSentAt + Number(grant.TTL) * 1000, callTimeoutMs) };
      }
      await client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      const kv = txn.responses[0].response_range?.kvs[0];
      return { won: false, leader: kv?.value.toString() };
    } catch (err) {
      await client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      throw etcdError('campaign', err);
    }
  }

  /**
   * Renews the lease once and checks the leader key is still this term's. Resolves with the
   * `performance.now()` from which the lease may have expired (sent time + TTL); rejects with
   * RPMEM_E_FENCED when the lease or the key is gone, RPMEM_E_UNAVAILABLE / TIMEOUT when etcd
   * did not answer in time.
   */
  async renew(): Promise<number> {
    if (this.revoked) throw new RpmemError(ErrorCode.FENCED, 'the leader lease was revoked');
    const sentAt = performance.now();
    const ttl = await withTimeout(this.keepaliveOnce(), this.callTimeoutMs, 'lease keepalive');
    // etcd leaves a TTL of 0 off the wire: a missing TTL (NaN here) is an expired lease too.
    if (!(ttl > 0)) throw new RpmemError(ErrorCode.FENCED, `leader lease ${this.id} expired`);
    const kv = await this.client
      .get(this.keys.leader)
      .exec()
      .then((r) => r.kvs[0])
      .catch((err) => Promise.reject(etcdError('get leader', err)));
    if (kv === undefined || kv.create_revision !== this.createRevision) {
      throw new RpmemError(ErrorCode.FENCED, 'the leader key was deleted or taken by another term');
    }
    return sentAt + ttl * 1000;
  }

  /** Gives the role up: revokes the lease, which deletes the leader key at once. Best effort. */
  async revoke(): Promise<void> {
    this.revoked = true;
    await this.client.leaseClient.leaseRevoke({ ID: this.id }).catch(() => undefined);
  }

  /** One keepalive on its own stream; resolves with the TTL etcd granted (0: the lease is gone). */
  private async keepaliveOnce(): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + this.callTimeoutMs });
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.on('end', () => reject(new RpmemError(ErrorCode.UNAVAILABLE, 'etcd ended the keepalive stream')));
        stream.write({ ID: this.id });
      });
      return Number(res.TTL);
    } catch (err) {
      throw etcdError('lease keepalive', err);
    } finally {
      stream.end();
    }
  }
}
