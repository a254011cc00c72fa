/**
 * rpmemd configuration: command-line flags and an optional YAML file with the same keys
 * (config-keys.ts lists them). Flags win over the file; every value is validated at start with a
 * message naming the key.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { parse as parseYaml } from 'yaml';
import { RpmemError, ErrorCode } from '../storage/errors';
import { LOG_FORMATS, LOG_LEVELS } from './log';
import { CONFIG_KEYS, DEFAULTS, Kind, TargetConfig, defaultMaxMessageBytes } from './config-keys';
import { usage } from './config-docs';

const KEY_OF_FLAG = new Map(Object.entries(CONFIG_KEYS).map(([key, { flag }]) => [flag, key as keyof TargetConfig]));

/** `rpmemd --help`, made from the table of keys. */
export const USAGE = usage();

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
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      throw invalid(flag, `must be a non-negative integer, got ${JSON.stringify(raw)}`);
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
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `config file ${file}: not a mapping`);
  return parsed as Record<string, unknown>;
}

/** Builds a validated config from `values` keyed by flag name (file values first, flags over them). */
export function buildConfig(values: Record<string, unknown>): TargetConfig {
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const [flag, raw] of Object.entries(values)) {
    if (raw === undefined) continue;
    const key = KEY_OF_FLAG.get(flag);
    if (key === undefined) throw invalid(flag, 'unknown key');
    out[key] = coerce(flag, CONFIG_KEYS[key].kind, raw);
  }
  const config = out as unknown as TargetConfig;
  if (config.poolDir === undefined) throw invalid('pool-dir', 'is required');
  config.poolDir = path.resolve(config.poolDir);
  config.maxMessageBytes ??= defaultMaxMessageBytes(config.maxRangeBytes);
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
    Object.values(CONFIG_KEYS).map(({ flag, kind }) => [flag, { type: kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
  ) as Record<string, { type: 'string' | 'boolean' }>;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...options,
        config: { type: 'string' },
        'check-config': { type: 'boolean' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
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
  return Object.fromEntries(Object.entries(CONFIG_KEYS).map(([key, { flag }]) => [flag, config[key as keyof TargetConfig] ?? null]));
}
