/**
 * rpmem: remote persistent-memory replication for Node.js.
 *
 * - {@link Pool}: a local pool file, mapped; store into `buffer`, then `persist(offset, length)`.
 * - {@link RemotePool}: a pool on an `rpmemd` target; `persist(offset, data)` resolves once the
 *   target made the range durable.
 */
export { Pool } from './initiator/pool';
export { RemotePool } from './initiator/remote-pool';
export type { PoolInfo } from './initiator/remote-pool';
export type { PersistResult } from './initiator/persist-stream';
export type {
  ConnectOptions,
  PoolCreateOptions,
  PoolOptions,
  RemotePoolCreateOptions,
  RemotePoolOpenOptions,
} from './initiator/options';
export type { PoolAttr } from './common/pool-attr';
export type { Granularity, GranularityRequest } from './common/native';
export { RpmemError, ErrorCode } from './common/errors';
export { crc32c } from './common/native';
export { PROTOCOL_VERSION } from './common/protocol';
