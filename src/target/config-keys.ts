/**
 * rpmemd's configuration keys: the one table from which the flags, `--help`, `--check-config`,
 * the configuration reference (docs/configuration.md) and the commented keys of
 * deploy/rpmemd.conf are made (config.ts, config-docs.ts). test/config-docs.test.ts fails when a
 * committed copy drifts from it.
 */
import { DEFAULT_MAX_BATCH_RANGES } from '../wire/protocol';
import type { GranularityRequest } from '../storage/native';
import { LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevel } from './log';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The daemon's settings. Keys in the config file are the flag names (`pool-dir`, ...); see CONFIG_KEYS for each. */
export interface TargetConfig {
  listen: string;
  poolDir: string;
  granularity: GranularityRequest;
  maxPoolBytes: number;
  maxRangeBytes: number;
  maxInflightBytes: number;
  maxBatchRanges: number;
  maxMessageBytes: number;
  openLeaseMs: number;
  shutdownGraceMs: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  insecure: boolean;
  authTokenFile?: string;
  maxPools: number;
  maxTotalBytes: number;
  maxStreams: number;
  maxStreamsPerPeer: number;
  maxStreamsPerPrincipal: number;
  maxStreamsPerConnection: number;
  idleStreamMs: number;
  maxNewStreamsPerSecond: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  metrics?: string;
}

/** max-message-bytes when not given: room for the largest range and its message's other fields. */
export function defaultMaxMessageBytes(maxRangeBytes: number): number {
  return maxRangeBytes + MiB;
}

/** The defaults of every key that has a fixed one (pool-dir is required; max-message-bytes follows max-range-bytes). */
export const DEFAULTS: Omit<TargetConfig, 'poolDir' | 'maxMessageBytes'> = {
  listen: '127.0.0.1:7420',
  granularity: 'auto',
  maxPoolBytes: 64 * GiB,
  maxRangeBytes: 16 * MiB,
  maxInflightBytes: 64 * MiB,
  maxBatchRanges: DEFAULT_MAX_BATCH_RANGES,
  openLeaseMs: 30_000,
  shutdownGraceMs: 10_000,
  logLevel: 'info',
  insecure: false,
  maxPools: 1024,
  maxTotalBytes: 1024 * GiB,
  maxStreams: 256,
  maxStreamsPerPeer: 64,
  maxStreamsPerPrincipal: 128,
  maxStreamsPerConnection: 32,
  idleStreamMs: 3_600_000,
  maxNewStreamsPerSecond: 50,
  logFormat: 'auto',
};

/** How a value is read and checked. */
export type Kind = 'string' | 'integer' | 'granularity' | 'level' | 'boolean' | 'format' | 'address';

export interface KeySpec {
  /** The flag and config-file key. */
  flag: string;
  kind: Kind;
  /** The placeholder `--help` shows after the flag (none for a boolean). */
  arg?: string;
  /** One line for `--help`. */
  help: string;
  /** The configuration reference's text (Markdown); `help` when absent. */
  doc?: string;
  /** How the default reads where it is not a plain value of DEFAULTS (required, none, off, derived). */
  defaultText?: string;
  /** A byte count's default as people read it, beside the number. */
  defaultNote?: string;
  /** The value deploy/rpmemd.conf shows, commented out, for a key without a default. */
  example?: string;
  /** Explained in prose at the top of deploy/rpmemd.conf, so left out of its generated list. */
  inSampleProse?: boolean;
}

/** Every key, in the order the help, the reference and the sample list them. */
export const CONFIG_KEYS: Record<keyof TargetConfig, KeySpec> = {
  listen: {
    flag: 'listen',
    kind: 'string',
    arg: 'HOST:PORT',
    inSampleProse: true,
    help: 'address to listen on (port 0 = any free port)',
    doc: '`HOST:PORT` to serve gRPC on; port 0 picks a free one. IPv6 as `[::1]:7420`.',
  },
  poolDir: {
    flag: 'pool-dir',
    kind: 'string',
    arg: 'DIR',
    defaultText: 'required',
    inSampleProse: true,
    help: 'directory holding the pool files',
    doc: 'Directory holding the pool files, one per pool, named after it. Must exist. Only names matching `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$` are served, and only inside it.',
  },
  granularity: {
    flag: 'granularity',
    kind: 'granularity',
    arg: 'G',
    inSampleProse: true,
    help: 'auto | cache-line | page (auto: cache-line on DAX, else page)',
    doc: '`auto` (cache-line on a DAX mapping, else page), `cache-line` (on a non-DAX file: emulated pmem) or `page`.',
  },
  maxPoolBytes: {
    flag: 'max-pool-bytes',
    kind: 'integer',
    arg: 'N',
    defaultNote: '64 GiB',
    help: 'largest pool accepted by Create, header included',
  },
  maxRangeBytes: {
    flag: 'max-range-bytes',
    kind: 'integer',
    arg: 'N',
    defaultNote: '16 MiB',
    help: 'largest single persisted range',
    doc: 'Largest single persisted range. Must be positive.',
  },
  maxInflightBytes: {
    flag: 'max-inflight-bytes',
    kind: 'integer',
    arg: 'N',
    defaultNote: '64 MiB',
    help: 'bytes received but not yet durable per stream',
    doc: 'Bytes a Persist stream may have received but not yet made durable before the target stops reading it (backpressure); each range counts its data plus 512 bytes for its bookkeeping. At least `max-range-bytes`.',
  },
  maxBatchRanges: {
    flag: 'max-batch-ranges',
    kind: 'integer',
    arg: 'N',
    help: 'most ranges in one PersistBatch message',
    doc: 'Most ranges in one PersistBatch message. A larger batch ends the stream with `RPMEM_E_LIMIT` before any of its ranges is decoded (what came before it is made durable and acked).',
  },
  maxMessageBytes: {
    flag: 'max-message-bytes',
    kind: 'integer',
    arg: 'N',
    defaultText: 'max-range-bytes + 1 MiB',
    example: String(defaultMaxMessageBytes(DEFAULTS.maxRangeBytes)),
    help: 'largest gRPC message',
    doc: 'Largest gRPC message received or sent. At least `max-range-bytes` + 1024.',
  },
  openLeaseMs: {
    flag: 'open-lease-ms',
    kind: 'integer',
    arg: 'N',
    help: 'release a handle idle for N ms with no Persist stream',
    doc: 'Release a handle left idle with no Persist stream for this long (each call naming it renews the lease).',
  },
  shutdownGraceMs: {
    flag: 'shutdown-grace-ms',
    kind: 'integer',
    arg: 'N',
    help: 'on SIGTERM, how long streams may drain before they are closed (ms)',
  },
  logLevel: {
    flag: 'log-level',
    kind: 'level',
    arg: 'L',
    inSampleProse: true,
    help: LOG_LEVELS.join(' | '),
    doc: LOG_LEVELS.map((l) => `\`${l}\``).join(', ') + '.',
  },
  tlsCert: {
    flag: 'tls-cert',
    kind: 'string',
    arg: 'FILE',
    defaultText: 'none',
    inSampleProse: true,
    help: 'PEM certificate chain (TLS is required unless --insecure)',
    doc: 'PEM certificate chain. Required, with `tls-key`, unless `insecure`.',
  },
  tlsKey: {
    flag: 'tls-key',
    kind: 'string',
    arg: 'FILE',
    defaultText: 'none',
    inSampleProse: true,
    help: 'PEM private key',
    doc: "The certificate's PEM private key. Required, with `tls-cert`, unless `insecure`.",
  },
  tlsCa: {
    flag: 'tls-ca',
    kind: 'string',
    arg: 'FILE',
    defaultText: 'none',
    inSampleProse: true,
    help: 'PEM CA bundle: require client certificates signed by it (mutual TLS)',
    doc: 'PEM CA bundle: clients must present a certificate it signed (mutual TLS). Needs `tls-cert`.',
  },
  insecure: {
    flag: 'insecure',
    kind: 'boolean',
    inSampleProse: true,
    help: 'serve plaintext; a non-loopback --listen is then logged as a warning',
    doc: 'Serve plaintext gRPC. Cannot be combined with `tls-cert`. A non-loopback `listen` then logs a warning.',
  },
  authTokenFile: {
    flag: 'auth-token-file',
    kind: 'string',
    arg: 'FILE',
    defaultText: 'none',
    example: '/etc/rpmem/tokens.yaml',
    help: 'YAML list of bearer tokens, each optionally scoped to pool patterns or read-only',
    doc: 'YAML list of bearer tokens, each optionally scoped to pool patterns and read-only (see docs/security.md, Tokens). When set, every call must carry one.',
  },
  maxPools: {
    flag: 'max-pools',
    kind: 'integer',
    arg: 'N',
    help: 'most pool files in the pool dir',
  },
  maxTotalBytes: {
    flag: 'max-total-bytes',
    kind: 'integer',
    arg: 'N',
    defaultNote: '1 TiB',
    help: 'most bytes all pool files together may take',
  },
  maxStreams: {
    flag: 'max-streams',
    kind: 'integer',
    arg: 'N',
    help: 'most streams (Persist, Read, Checksums) open at once',
  },
  maxStreamsPerPeer: {
    flag: 'max-streams-per-peer',
    kind: 'integer',
    arg: 'N',
    help: 'most open streams from one client IP address, over all its connections',
    doc: 'Most of those one client IP address may hold, however many connections it opens, so a client that opens streams and leaves them idle cannot lock others out for `idle-stream-ms`. Raise it where many initiators share one address (NAT, one host running many).',
  },
  maxStreamsPerPrincipal: {
    flag: 'max-streams-per-principal',
    kind: 'integer',
    arg: 'N',
    help: 'most open streams for one token of auth-token-file',
    doc: 'Most of those one token of `auth-token-file` may hold. Callers are told apart by address only when there is no token file.',
  },
  maxStreamsPerConnection: {
    flag: 'max-streams-per-connection',
    kind: 'integer',
    arg: 'N',
    help: 'most concurrent calls on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS)',
    doc: 'Most concurrent calls of any kind on one connection (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`); a client queues the calls beyond it. Bounds what one connection can make the daemon buffer (see docs/security.md, Limits).',
  },
  idleStreamMs: {
    flag: 'idle-stream-ms',
    kind: 'integer',
    arg: 'N',
    help: 'end a Persist stream silent for N ms, 0 = never',
    doc: 'End a Persist stream that sends nothing this long (`RPMEM_E_TIMEOUT`), and a Read or Checksums stream whose client stops reading this long; 0 = never.',
  },
  maxNewStreamsPerSecond: {
    flag: 'max-new-streams-per-second',
    kind: 'integer',
    arg: 'N',
    help: 'most new streams per second one connection may open',
    doc: "New streams per second one connection may open (burst: two seconds' worth).",
  },
  logFormat: {
    flag: 'log-format',
    kind: 'format',
    arg: 'F',
    help: `${LOG_FORMATS.join(' | ')} (auto: pretty on a terminal, else JSON lines)`,
    doc: '`json` (one object per line), `pretty` (for people), or `auto`: pretty when stderr is a terminal, JSON otherwise (journald, files, pipes).',
  },
  metrics: {
    flag: 'metrics',
    kind: 'address',
    arg: 'HOST:PORT',
    defaultText: 'off',
    example: '127.0.0.1:9420',
    help: 'serve Prometheus metrics at http://HOST:PORT/metrics',
    doc: '`HOST:PORT` to serve Prometheus metrics on, at `/metrics`.',
  },
};

/** The default of `key` as the help and the reference show it. */
export function defaultText(key: keyof TargetConfig): string {
  const spec = CONFIG_KEYS[key];
  if (spec.defaultText !== undefined) return spec.defaultText;
  const value = (DEFAULTS as Record<string, unknown>)[key];
  return spec.defaultNote === undefined ? String(value) : `${String(value)} (${spec.defaultNote})`;
}
