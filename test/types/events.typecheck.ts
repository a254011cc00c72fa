/**
 * Type tests, checked by tsc in every build (`npm test` builds first), never run: the events of
 * ReplicatedPool and FailoverCandidate are typed, so a listener with the wrong payload or an event
 * that does not exist is a compile error. Each `@ts-expect-error` fails the build if the line
 * below it compiles, i.e. if the typing regressed.
 */
import type { FailoverCandidate } from '../../src/initiator/failover/failover-candidate';
import type { ReplicatedPool } from '../../src/initiator/replicated-pool';

export function replicatedPoolEvents(pool: ReplicatedPool): void {
  pool.on('replica-down', ({ replica, error }) => void (replica.length + error.code.length));
  pool.on('degraded', ({ up, total }) => void (up + total));
  pool.once('fenced', ({ error }) => void error.code);
  // @ts-expect-error: no such event
  pool.on('replica-lost', () => undefined);
  // @ts-expect-error: 'degraded' carries { up, total }, not a string
  pool.on('degraded', (state: string) => void state);
  // @ts-expect-error: emitting with the wrong payload
  pool.emit('restored', { up: 1 });
}

export function candidateEvents(held: FailoverCandidate, unheld: FailoverCandidate<false>): void {
  held.on('elected', ({ pool, epoch }) => void (pool.size + Number(epoch)));
  held.on('demoted', ({ reason }) => void reason.length);
  // @ts-expect-error: without holdPool the elected event carries no pool
  unheld.on('elected', ({ pool }) => void pool.size);
  // @ts-expect-error: epoch is a bigint
  held.on('elected', ({ epoch }: { epoch: string }) => void epoch);
}
