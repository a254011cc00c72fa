/**
 * The highest epoch any replica promised, read with Stat: the floor under a coordinator's next
 * epoch, so a claim is never refused for an epoch a manual `promote` already used.
 */
import type { ConnectOptions } from '../options';
import { RemotePool } from '../remote-pool';
import { parseReplica } from '../replica';

/** The highest epoch a Stat of the reachable replicas shows (0 when none answers). */
export async function replicaEpochFloor(replicas: string[], connect: ConnectOptions): Promise<bigint> {
  const answers = await Promise.allSettled(replicas.map(parseReplica).map((a) => RemotePool.stat(a.target, a.name, connect)));
  return answers.reduce((max, r) => (r.status === 'fulfilled' && r.value.epoch > max ? r.value.epoch : max), 0n);
}
