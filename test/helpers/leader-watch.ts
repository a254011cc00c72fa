/**
 * Watches a group's leader key in etcd from the test process and records each put (a term began)
 * and delete (the lease expired or was revoked) with the CLOCK_MONOTONIC time it was seen, the
 * clock candidate-process.ts stamps acks with. A delete is seen a little after it happened, so a
 * check "acked before the key was deleted" errs on the lenient side only by the watch's latency.
 */
import { Etcd3, Watcher } from 'etcd3';
import { clusterKeys } from '../../src/initiator/failover/cluster-keys';
import { DEFAULT_KEY_PREFIX } from '../../src/initiator/failover/candidate-options';

export interface LeaderEvent {
  kind: 'put' | 'delete';
  /** The member that took the key (puts only). */
  member?: string;
  ns: bigint;
}

export class LeaderWatch {
  readonly events: LeaderEvent[] = [];

  private constructor(
    private readonly client: Etcd3,
    private readonly watcher: Watcher,
  ) {}

  static async start(etcdUrl: string, group: string): Promise<LeaderWatch> {
    const client = new Etcd3({ hosts: [etcdUrl] });
    const watcher = await client.watch().key(clusterKeys(DEFAULT_KEY_PREFIX, group).leader).create();
    const watch = new LeaderWatch(client, watcher);
    watcher.on('put', (kv) => watch.events.push({ kind: 'put', member: kv.value.toString(), ns: process.hrtime.bigint() }));
    watcher.on('delete', () => watch.events.push({ kind: 'delete', ns: process.hrtime.bigint() }));
    return watch;
  }

  /** When the leader key was first seen deleted after `afterNs`. */
  deletedAfter(afterNs: bigint): bigint | undefined {
    return this.events.find((e) => e.kind === 'delete' && e.ns > afterNs)?.ns;
  }

  /** When `member` was first seen taking the key after `afterNs`. */
  takenBy(member: string, afterNs: bigint): bigint | undefined {
    return this.events.find((e) => e.kind === 'put' && e.member === member && e.ns > afterNs)?.ns;
  }

  async close(): Promise<void> {
    await this.watcher.cancel();
    this.client.close();
  }
}
