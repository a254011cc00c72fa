/**
 * Options of the initiator's public classes, each with its default.
 */
import type { EpochClaim } from '../storage/epoch-claim';
import type { Durability } from '../storage/durability';
import type { GranularityRequest } from '../storage/native';
import type { PoolAttr } from '../storage/pool-attr';

/** TLS settings of a connection to a target. PEM contents, not file names. */
export interface TlsOptions {
  /** CA certificate(s) to trust for the target's certificate. Default: the system's roots. */
  ca?: Buffer | string;
  /** Client certificate chain, for targets that require mutual TLS. */
  cert?: Buffer | string;
  /** The client certificate's private key. */
  key?: Buffer | string;
  /** Name to check the target's certificate against, when it differs from the host dialed. */
  serverName?: string;
}

/** How to reach a target. */
export interface ConnectOptions {
  /**
   * Use TLS (and mutual TLS with `cert` + `key`). Default: plaintext, for targets started with
   * `--insecure`. Example: `{ tls: { ca: fs.readFileSync('ca.pem') } }`.
   */
  tls?: TlsOptions;
  /** Bearer token for targets started with `--auth-token-file`. Default none. Never logged. */
  token?: string;
  /**
   * Deadline for each control-plane call (create, open, stat, close, remove, setAttr).
   * Default 10000. Example: `{ callTimeoutMs: 2000 }`.
   */
  callTimeoutMs?: number;
  /**
   * Extra grpc-js channel options, merged over rpmem's (keepalive, message size).
   * Default none. Example: `{ 'grpc.keepalive_time_ms': 5000 }`.
   */
  channelOptions?: Record<string, string | number>;
}

/** Options of {@link RemotePool.open}. */
export interface RemotePoolOpenOptions extends ConnectOptions {
  /**
   * Open for reading only: persist rejects, and any number of readers may share a pool with its writer.
   * Default false.
   */
  readOnly?: boolean;
  /**
   * Most bytes sent and not yet acknowledged; further persists wait for acks (backpressure).
   * Default 64 MiB. Example: `{ maxInflightBytes: 8 * 1024 * 1024 }`.
   */
  maxInflightBytes?: number;
  /**
   * Most bytes packed into one stream message; ranges are grouped up to this size.
   * Default 1 MiB.
   */
  maxMessageBytes?: number;
  /**
   * How long the target may go without acknowledging anything while ranges are outstanding before
   * the stream is declared lost (RPMEM_E_TIMEOUT; the pool handle fails). Default 30000.
   * Example: `{ ackTimeoutMs: 2000 }`.
   */
  ackTimeoutMs?: number;
  /**
   * The epoch claim to write under, as a replication primary does (see {@link EpochClaim}): the
   * target refuses it (RPMEM_E_FENCED, at open) when its pool promised a higher epoch or this epoch
   * to another claimant, and records a higher one before the first range. Default: none, a plain
   * writer, which a pool that a replication primary claimed refuses.
   */
  claim?: EpochClaim;
  /**
   * The least durability the pool must give (`pmem` > `page` > `emulated`, see {@link Durability}):
   * the target refuses the open with RPMEM_E_DURABILITY, leaving no handle, when it gives less, so no
   * persist fails later for a reason known now. Default: none. Example: `{ requireDurability: 'page' }`
   * to refuse a target whose pools are on /dev/shm or in the page cache only.
   */
  requireDurability?: Durability;
}

/** Options of {@link RemotePool.create}: the pool to make, then how to open it. */
export interface RemotePoolCreateOptions extends RemotePoolOpenOptions {
  /** Usable bytes in the pool (its data area; the 4 KiB header comes on top). Required. Example: `{ size: 64 << 20 }`. */
  size: number;
  /** librpmem pool attributes to store in the header. Default all zero. */
  attr?: Partial<PoolAttr>;
}

/** Options of {@link Pool.create} and {@link Pool.open}. */
export interface PoolOptions {
  /**
   * `auto` (cache-line where the mapping is DAX, else page), or force one. Default `auto`, or the
   * environment variable RPMEM_FORCE_GRANULARITY when set. Example: `{ granularity: 'cache-line' }`
   * on /dev/shm to emulate pmem.
   */
  granularity?: GranularityRequest;
  /**
   * Fail to open when the effective granularity is coarser than this. Default: no requirement.
   * Example: `{ requireGranularity: 'cache-line' }`.
   */
  requireGranularity?: 'cache-line' | 'page';
  /**
   * Fail to open (RPMEM_E_DURABILITY, the file closed again) when the pool gives less durability
   * than this (`pmem` > `page` > `emulated`, see {@link Durability}). Default: no requirement.
   * Example: `{ requireDurability: 'pmem' }` to refuse anything but a DAX mapping.
   */
  requireDurability?: Durability;
}

/** Options of {@link Pool.create}. */
export interface PoolCreateOptions extends PoolOptions {
  /** Usable bytes in the pool (its data area). Required. */
  size: number;
  /** librpmem pool attributes to store in the header. Default all zero. */
  attr?: Partial<PoolAttr>;
}

export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const DEFAULT_ACK_TIMEOUT_MS = 30_000;
