/**
 * rpmem: remote persistent-memory replication for Node.js.
 *
 * - {@link Pool}: a local pool file, mapped; store into `buffer`, then `persist(offset, length)`.
 * - {@link RemotePool}: a pool on an `rpmemd` target; `persist(offset, data)` resolves once the
 *   target made the range durable.
 * - {@link ReplicatedPool}: a local pool replicated to several targets under a write policy, with
 *   degraded mode, incremental resync and {@link promote} after the primary is lost.
 * - {@link FailoverCandidate}: automatic failover through etcd; the elected candidate promotes and
 *   gets the ReplicatedPool, the others stand by.
 */
export { Pool } from './initiator/pool';
export { RemotePool } from './initiator/remote-pool';
export type { PersistOptions } from './initiator/remote-pool';
export type { PoolInfo } from './wire/conversions';
export { ReplicatedPool } from './initiator/replicated-pool';
export type {
  ReplicatedPoolOptions,
  ReplicatedPoolEvents,
  ReplicatedPoolListeners,
  ReplicatedPersistResult,
  ReplicaAck,
  ReplicaStatus,
  ReplicaVerify,
  WritePolicy,
} from './initiator/replicated-pool';
export type { ReplicaState, ResyncProgress, ResyncDone } from './initiator/replica';
export type { DifferingRange } from './initiator/block-compare';
export { promote } from './initiator/promote';
export type { PromoteOptions } from './initiator/promote';
export type { PromotionReport } from './initiator/promotion-report';
export { FailoverCandidate } from './initiator/failover/failover-candidate';
export { CandidateRole } from './initiator/failover/candidate-options';
export type {
  FailoverCandidateOptions,
  FailoverCandidateEvents,
  ElectedPool,
  EtcdConnection,
} from './initiator/failover/candidate-options';
export type { BackoffOptions } from './initiator/backoff';
export type { PersistResult } from './initiator/persist-stream';
export type {
  ConnectOptions,
  TlsOptions,
  PoolCreateOptions,
  PoolOptions,
  RemotePoolCreateOptions,
  RemotePoolOpenOptions,
} from './initiator/options';
export type { PoolAttr } from './storage/pool-attr';
export type { SyncState } from './storage/pool-header';
export type { Granularity, GranularityRequest } from './storage/native';
export type { Durability } from './storage/durability';
export { RpmemError, ErrorCode } from './storage/errors';
export { grpcStatusOf } from './wire/status';
export type { RpmemErrorDetails } from './storage/errors';
export { newClaim } from './storage/epoch-claim';
export type { EpochClaim } from './storage/epoch-claim';
export { crc32c } from './storage/native';
export { PROTOCOL_VERSION } from './wire/protocol';
