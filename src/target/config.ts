/**
 * rpmemd configuration: command-line flags and an optional YAML file with the same keys.
 * Flags win over the file; every value is validated at start with a message naming the key.
 */
import { DEFAULT_MAX_BATCH_RANGES } from '../common/protocol';
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { parse as parseYaml } from 'yaml';
import { RpmemError, ErrorCode } from '../common/errors';
import type { GranularityRequest } from '../common/native';
import { LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevel } from './log';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The daemon's settings. Keys in the config file are the flag names (`pool-dir`, ...). */
export interface TargetConfig {
  /** `host:port` to listen on. Port 0 picks a free one. Default `127.0.0.1:7420`. */
  listen: string;
  /** Directory holding the pool files. Required. */
  poolDir: string;
  /** `auto` (cache-line on DAX, else page), or forced `cache-line` / `page`. Default `auto`. */
  granularity: GranularityRequest;
  /** Largest pool file accepted by Create, header included. Default 64 GiB. */
  maxPoolBytes: number;
  /** Largest single range in a Persist stream. Default 16 MiB. */
  maxRangeBytes: number;
  /**
   * Bytes a Persist stream may have received but not yet made durable before the target stops
   * reading; each range counts its data plus 512 bytes of bookkeeping. Default 64 MiB.
   */
  maxInflightBytes: number;
  /** Most ranges in one PersistBatch message; a larger batch ends the stream with RPMEM_E_LIMIT before it is decoded. Default 16384. */
  maxBatchRanges: number;
  /** Largest gRPC message accepted. Default 2 × max-range-bytes + 1 MiB. */
  maxMessageBytes: number;
  /**
   * How long a handle may sit idle (no Persist stream attached, no call naming it) before it is
   * released, so a client that vanished between Open and its stream cannot hold a pool. Default 30000.
   */
  openLeaseMs: number;
  /** How long SIGTERM waits for streams to drain before closing them. Default 10000. */
  shutdownGraceMs: number;
  /** PEM certificate chain for TLS. Required unless `insecure`. */
  tlsCert?: string;
  /** PEM private key for TLS. Required unless `insecure`. */
  tlsKey?: string;
  /** PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS). */
  tlsCa?: string;
  /** Serve plaintext gRPC. Only when asked; a non-loopback `listen` then logs a warning. Default false. */
  insecure: boolean;
  /** YAML file of bearer tokens (see auth.ts); when set, every call must carry one. Default none. */
  authTokenFile?: string;
  /** Most pool files in the pool dir. Default 1024. */
  maxPools: number;
  /** Most bytes all pool files together may take. Default 1 TiB. */
  maxTotalBytes: number;
  /** Most streams (Persist, Read, Checksums) open at once. Default 256. */
  maxStreams: number;
  /** Most streams one client IP address may hold open at once, over all its connections. Default 64. */
  maxStreamsPerPeer: number;
  /** Most streams one token of auth-token-file may hold open at once. Default 128. */
  maxStreamsPerPrincipal: number;
  /** Most concurrent calls (HTTP/2 streams) on one connection. Default 32. */
  maxStreamsPerConnection: number;
  /** A Persist stream that sends nothing for this long is ended (RPMEM_E_TIMEOUT). 0 = never. Default 3600000. */
  idleStreamMs: number;
  /** Most new streams per second one connection may open. Default 50. */
  maxNewStreamsPerSecond: number;
  logLevel: LogLevel;
  /** `json`, `pretty`, or `auto` (pretty when stderr is a terminal, else JSON). Default `auto`. */
  logFormat: LogFormat;
  /** `host:port` to serve Prometheus metrics on, at /metrics. Default: off. */
  metrics?: string;
}

const DEFAULTS: Omit<TargetConfig, 'poolDir' | 'maxMessageBytes'> = {
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

type Kind = 'string' | 'integer' | 'granularity' | 'level' | 'boolean' | 'format' | 'address';

/** Every key, its flag name, and its type. */
const KEYS: Record<Exclude<keyof TargetConfig, never>, { flag: string; kind: Kind }> = {
  listen: { flag: 'listen', kind: 'string' },
  poolDir: { flag: 'pool-dir', kind: 'string' },
  granularity: { flag: 'granularity', kind: 'granularity' },
  maxPoolBytes: { flag: 'max-pool-bytes', kind: 'integer' },
  maxRangeBytes: { flag: 'max-range-bytes', kind: 'integer' },
  maxInflightBytes: { flag: 'max-inflight-bytes', kind: 'integer' },
  maxBatchRanges: { flag: 'max-batch-ranges', kind: 'integer' },
  maxMessageBytes: { flag: 'max-message-bytes', kind: 'integer' },
  openLeaseMs: { flag: 'open-lease-ms', kind: 'integer' },
  shutdownGraceMs: { flag: 'shutdown-grace-ms', kind: 'integer' },
  logLevel: { flag: 'log-level', kind: 'level' },
  tlsCert: { flag: 'tls-cert', kind: 'string' },
  tlsKey: { flag: 'tls-key', kind: 'string' },
  tlsCa: { flag: 'tls-ca', kind: 'string' },
  insecure: { flag: 'insecure', kind: 'boolean' },
  authTokenFile: { flag: 'auth-token-file', kind: 'string' },
  maxPools: { flag: 'max-pools', kind: 'integer' },
  maxTotalBytes: { flag: 'max-total-bytes', kind: 'integer' },
  maxStreams: { flag: 'max-streams', kind: 'integer' },
  maxStreamsPerPeer: { flag: 'max-streams-per-peer', kind: 'integer' },
  maxStreamsPerPrincipal: { flag: 'max-streams-per-principal', kind: 'integer' },
  maxStreamsPerConnection: { flag: 'max-streams-per-connection', kind: 'integer' },
  idleStreamMs: { flag: 'idle-stream-ms', kind: 'integer' },
  maxNewStreamsPerSecond: { flag: 'max-new-streams-per-second', kind: 'integer' },
  logFormat: { flag: 'log-format', kind: 'format' },
  metrics: { flag: 'metrics', kind: 'address' },
};

const KEY_OF_FLAG = new Map(Object.entries(KEYS).map(([key, { flag }]) => [flag, key as keyof TargetConfig]));

export const USAGE = `Usage: rpmemd --pool-dir DIR [options]

Serves rpmem pools from one directory over gRPC.

Options (each is also a key of the YAML config file):
  --listen HOST:PORT          address to listen on (default ${DEFAULTS.listen}; port 0 = any free port)
  --pool-dir DIR              directory holding the pool files (required)
  --granularity G             auto | cache-line | page (default auto: cache-line on DAX, else page)
  --max-pool-bytes N          largest pool accepted by Create (default ${DEFAULTS.maxPoolBytes})
  --max-range-bytes N         largest single persisted range (default ${DEFAULTS.maxRangeBytes})
  --max-inflight-bytes N      bytes received but not yet durable per stream (default ${DEFAULTS.maxInflightBytes})
  --max-batch-ranges N        most ranges in one PersistBatch message (default ${DEFAULTS.maxBatchRanges})
  --max-message-bytes N       largest gRPC message (default max-range-bytes + 1 MiB)
  --open-lease-ms N           release a handle idle for N ms with no Persist stream (default ${DEFAULTS.openLeaseMs})
  --shutdown-grace-ms N       SIGTERM drain time before streams are closed (default ${DEFAULTS.shutdownGraceMs})
  --log-level L               ${LOG_LEVELS.join(' | ')} (default ${DEFAULTS.logLevel})
  --tls-cert FILE             PEM certificate chain (TLS is required unless --insecure)
  --tls-key FILE              PEM private key
  --tls-ca FILE               PEM CA bundle: require client certificates signed by it (mutual TLS)
  --insecure                  serve plaintext; then bind loopback unless --listen says otherwise (logged)
  --auth-token-file FILE      YAML list of bearer tokens, each optionally scoped to pool patterns / read-only
  --max-pools N               most pool files (default ${DEFAULTS.maxPools})
  --max-total-bytes N         most bytes of all pool files together (default ${DEFAULTS.maxTotalBytes})
  --max-streams N             most open streams (default ${DEFAULTS.maxStreams})
  --max-streams-per-peer N    most open streams from one client IP address (default ${DEFAULTS.maxStreamsPerPeer})
  --max-streams-per-principal N  most open streams for one token (default ${DEFAULTS.maxStreamsPerPrincipal})
  --max-streams-per-connection N  most concurrent calls on one connection (default ${DEFAULTS.maxStreamsPerConnection})
  --idle-stream-ms N          end a Persist stream silent for N ms, 0 = never (default ${DEFAULTS.idleStreamMs})
  --max-new-streams-per-second N  per connection (default ${DEFAULTS.maxNewStreamsPerSecond})
  --log-format F              ${LOG_FORMATS.join(' | ')} (default ${DEFAULTS.logFormat}: pretty on a terminal, else JSON lines)
  --metrics HOST:PORT         serve Prometheus metrics at http://HOST:PORT/metrics (default off)
  --config FILE               YAML file with any of the keys above
  --check-config              validate the flags, config file, TLS and token files, print the effective config as JSON, exit
  --help                      print this help
  --version                   print the version

On start it prints one line to stdout: "rpmemd listening on HOST:PORT".
Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or a good --check-config, 1 if shutdown
failed, 2 on a bad flag or config or any other failure to start (address in use, unreadable TLS or
token file).`;

function invalid(key: string, message: string): RpmemError {
  return new RpmemError(ErrorCode.INVALID_ARGUMENT, `config "${key}": ${message}`);
}

function coerce(flag: string, kind: Kind, raw: unknown): string | number | boolean {
  if (kind === 'boolean') {
    if (typeof raw !== 'boolean') throw invalid(flag, `must be true or false, got ${JSON.stringify(raw)}`);
    return raw;
  }
  if (kind === 'integer') {
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid(flag, `must be a non-negative integer, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (typeof raw !== 'string' || raw === '') throw invalid(flag, `must be a non-empty string, got ${JSON.stringify(raw)}`);
  if (kind === 'granularity' && !['auto', 'cache-line', 'page'].includes(raw)) {
    throw invalid(flag, `must be auto, cache-line or page, got "${raw}"`);
  }
  if (kind === 'level' && !(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw invalid(flag, `must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  if (kind === 'format' && !(LOG_FORMATS as readonly string[]).includes(raw)) {
    throw invalid(flag, `must be one of ${LOG_FORMATS.join(', ')}, got "${raw}"`);
  }
  if (kind === 'address') splitAddress(flag, raw);
  return raw;
}

function readFile(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `config file ${file}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `config file ${file}: not a mapping`);
  return parsed as Record<string, unknown>;
}

/** Builds a validated config from `values` keyed by flag name (file values first, flags over them). */
export function buildConfig(values: Record<string, unknown>): TargetConfig {
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const [flag, raw] of Object.entries(values)) {
    if (raw === undefined) continue;
    const key = KEY_OF_FLAG.get(flag);
    if (key === undefined) throw invalid(flag, 'unknown key');
    out[key] = coerce(flag, KEYS[key].kind, raw);
  }
  const config = out as unknown as TargetConfig;
  if (config.poolDir === undefined) throw invalid('pool-dir', 'is required');
  config.poolDir = path.resolve(config.poolDir);
  config.maxMessageBytes ??= config.maxRangeBytes + MiB;
  splitListen(config.listen);
  if (config.maxRangeBytes === 0) throw invalid('max-range-bytes', 'must be positive');
  if (config.maxBatchRanges === 0) throw invalid('max-batch-ranges', 'must be positive');
  if (config.maxStreamsPerConnection === 0) throw invalid('max-streams-per-connection', 'must be positive');
  if (config.maxInflightBytes < config.maxRangeBytes) throw invalid('max-inflight-bytes', 'must be at least max-range-bytes');
  if (config.maxMessageBytes < config.maxRangeBytes + 1024) throw invalid('max-message-bytes', 'must exceed max-range-bytes');
  checkTls(config);
  return config;
}

/** Plaintext only when asked for; TLS needs both a certificate and its key. */
function checkTls(config: TargetConfig): void {
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw invalid(config.tlsCert === undefined ? 'tls-cert' : 'tls-key', 'tls-cert and tls-key go together');
  }
  if (config.tlsCa !== undefined && config.tlsCert === undefined) throw invalid('tls-ca', 'needs tls-cert and tls-key');
  if (config.insecure && config.tlsCert !== undefined) throw invalid('insecure', 'cannot be combined with tls-cert');
  if (!config.insecure && config.tlsCert === undefined) {
    throw invalid('tls-cert', 'TLS is required: give tls-cert and tls-key (and tls-ca for mutual TLS), or insecure for plaintext');
  }
}

/** Splits the `listen` address; throws naming the `listen` key. */
export function splitListen(listen: string): { host: string; port: number } {
  return splitAddress('listen', listen);
}

/** Splits `host:port` (IPv6 as `[::1]:port`); throws naming `key`. */
export function splitAddress(key: string, address: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  if (m === null || Number(m[2]) > 65535) throw invalid(key, `must be HOST:PORT, got "${address}"`);
  return { host: m[1], port: Number(m[2]) };
}

export type ParsedArgs = { kind: 'help' } | { kind: 'version' } | { kind: 'run' | 'check'; config: TargetConfig };

/** Parses rpmemd's argv (without node and script). Throws RpmemError naming the bad flag or key. */
export function parseTargetArgs(argv: string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.values(KEYS).map(({ flag, kind }) => [flag, { type: kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
  ) as Record<string, { type: 'string' | 'boolean' }>;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, config: { type: 'string' }, 'check-config': { type: 'boolean' }, help: { type: 'boolean' }, version: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, (err as Error).message);
  }
  const { help, version, config: configFile, 'check-config': check, ...flags } = parsed.values as Record<string, unknown>;
  if (help === true) return { kind: 'help' };
  if (version === true) return { kind: 'version' };
  const fromFile = typeof configFile === 'string' ? readFile(configFile) : {};
  return { kind: check === true ? 'check' : 'run', config: buildConfig({ ...fromFile, ...flags }) };
}

/** The config as `--check-config` prints it: every key under its flag name, defaults filled in. */
export function effectiveConfig(config: TargetConfig): Record<string, unknown> {
  return Object.fromEntries(Object.entries(KEYS).map(([key, { flag }]) => [flag, config[key as keyof TargetConfig] ?? null]));
}
