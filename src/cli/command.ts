/**
 * What every `rpmem` command is made of: its options (parsed with node:util parseArgs, strictly),
 * its help text with examples, and a `run` over a Context. The shared option groups (connection,
 * replicas, output) are defined once here so every command spells them the same way.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import type { ConnectOptions } from '../initiator/options';
import { Io, Output } from './output';

/** A command-line mistake: printed as one line, exit code 2. */
export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `SIZE`. */
  arg?: string;
  help: string;
}

export type Options = Record<string, OptionSpec>;

export interface Command {
  name: string;
  /** One line for `rpmem --help`. */
  summary: string;
  /** The synopsis after `rpmem NAME`, e.g. `--size SIZE NAME`. */
  synopsis: string;
  /** A paragraph under the synopsis. */
  description: string;
  options: Options;
  /** Takes the pool NAME positional. */
  takesName?: boolean;
  examples: string[];
  /** Resolves with the exit code (0 when it returns nothing). */
  run(ctx: Context): Promise<number | void>;
}

export interface Context {
  readonly command: string;
  /** The pool NAME positional ('' for commands that take none). */
  readonly name: string;
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly io: Io;
  readonly out: Output;
  /** `--target`, default 127.0.0.1:7420. */
  readonly target: string;
  /** TLS, token and deadline from the connection options. */
  /** The connection options from the flags; `fromFile` (keys named as the flags) fills those not given. */
  connect(fromFile?: Record<string, unknown>): ConnectOptions;
  /** The string value of `--flag`; throws UsageError when it is required and missing. */
  str(flag: string, required: true): string;
  str(flag: string, required?: boolean): string | undefined;
}

export const DEFAULT_TARGET = '127.0.0.1:7420';
/** Where a bearer token may come from besides --token-file: never a flag, so it stays out of `ps`. */
export const TOKEN_ENV = 'RPMEM_TOKEN';

export const TARGET_OPTIONS: Options = {
  target: { type: 'string', arg: 'HOST:PORT', help: `the rpmemd to talk to (default ${DEFAULT_TARGET})` },
};

export const CONNECT_OPTIONS: Options = {
  tls: { type: 'boolean', help: "use TLS, trusting the system's CA roots (default: plaintext)" },
  'tls-ca': { type: 'string', arg: 'FILE', help: "use TLS, trusting this PEM CA bundle for the target's certificate" },
  'tls-cert': { type: 'string', arg: 'FILE', help: 'PEM client certificate, for targets that require mutual TLS' },
  'tls-key': { type: 'string', arg: 'FILE', help: "the client certificate's PEM private key" },
  'tls-server-name': { type: 'string', arg: 'NAME', help: "name to check the target's certificate against" },
  'token-file': { type: 'string', arg: 'FILE', help: `file holding the bearer token (or set ${TOKEN_ENV})` },
  'call-timeout-ms': { type: 'string', arg: 'MS', help: 'deadline of each control call (default 10000)' },
};

export const REPLICA_OPTIONS: Options = {
  pool: { type: 'string', arg: 'PATH', help: 'the local pool file (the primary copy)' },
  replica: { type: 'string', multiple: true, arg: 'HOST:PORT/NAME', help: 'a replica; repeat for each' },
};

export const COMMON_OPTIONS: Options = {
  json: { type: 'boolean', help: 'print the result as one JSON document (no progress bars)' },
  debug: { type: 'boolean', help: 'print stack traces with errors' },
  help: { type: 'boolean', help: 'print this help' },
};

export const EXIT_CODES = 'Exit codes: 0 success, 1 the operation failed (or found a problem), 2 bad usage.';

/** Parses `argv` (the arguments after the command name) for `command`. */
export function parseCommandArgs(command: Command, argv: string[], io: Io): { help: true } | { help: false; ctx: Context } {
  const options = { ...command.options, ...COMMON_OPTIONS };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.type, multiple: o.multiple === true }])),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const positionals = parsed.positionals;
  const values = parsed.values as Context['values'];
  if (values.help === true) return { help: true };
  const takes = command.takesName === true ? 1 : 0;
  if (positionals.length < takes) throw new UsageError(`${command.name} needs a pool NAME`);
  if (positionals.length > takes) throw new UsageError(`unexpected argument "${positionals[takes]}"`);
  const json = values.json === true;
  const str = (flag: string, required = false): string | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return v;
    if (required) throw new UsageError(`${command.name} needs --${flag} ${options[flag]?.arg ?? ''}`.trimEnd());
    return undefined;
  };
  const ctx: Context = {
    command: command.name,
    name: positionals[0] ?? '',
    values,
    io,
    out: new Output(json, io),
    target: (values.target as string | undefined) ?? DEFAULT_TARGET,
    connect: (fromFile = {}) =>
      connectOptions({ ...fromFile, ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) }),
    str: str as Context['str'],
  };
  return { help: false, ctx };
}

function readFileArg(flag: string, file: unknown): Buffer | undefined {
  if (typeof file !== 'string') return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${flag} ${file}: ${(err as Error).message}`);
  }
}

function connectOptions(values: Record<string, unknown>): ConnectOptions {
  const ca = readFileArg('tls-ca', values['tls-ca']);
  const cert = readFileArg('tls-cert', values['tls-cert']);
  const key = readFileArg('tls-key', values['tls-key']);
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const serverName = typeof values['tls-server-name'] === 'string' ? values['tls-server-name'] : undefined;
  const useTls = values.tls === true || ca !== undefined || cert !== undefined || serverName !== undefined;
  const tokenFile = values['token-file'];
  const token =
    typeof tokenFile === 'string' ? readFileArg('token-file', tokenFile)!.toString('utf8').trim() : process.env[TOKEN_ENV] || undefined;
  const timeout = values['call-timeout-ms'];
  return {
    ...(useTls ? { tls: { ca, cert, key, serverName } } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(timeout !== undefined
      ? { callTimeoutMs: parseCount('call-timeout-ms', typeof timeout === 'number' ? String(timeout) : timeout) }
      : {}),
  };
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** A byte count with an optional K, M, G or T suffix (powers of 1024). */
export function parseSize(flag: string, raw: unknown): number {
  const m = typeof raw === 'string' ? /^(\d+)([KMGT]?)i?B?$/i.exec(raw) : null;
  if (m === null) throw new UsageError(`--${flag} needs a number with an optional K, M, G or T suffix, got ${JSON.stringify(raw ?? null)}`);
  const n = Number(m[1]) * UNITS[m[2].toUpperCase()];
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} is too large`);
  return n;
}

/** A plain non-negative integer. */
export function parseCount(flag: string, raw: unknown): number {
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} needs a whole number, got ${JSON.stringify(raw ?? null)}`);
  return n;
}

/** `--pool` and at least one `--replica`. */
export function replicaArgs(ctx: Context): { pool: string; replicas: string[] } {
  const pool = ctx.str('pool', true);
  const replicas = (ctx.values.replica ?? []) as string[];
  if (replicas.length === 0) throw new UsageError(`${ctx.command} needs at least one --replica HOST:PORT/NAME`);
  return { pool, replicas };
}

/**
 * Awaits `opening`, hands the pool to `use` and closes it however `use` ends: the open / try /
 * finally-close sequence of every command that talks to a pool. A command that must do more on
 * the way out passes its own `close` (bench also removes its temporary pool).
 */
export async function withPool<P extends { close(): Promise<void> }, T>(
  opening: Promise<P>,
  use: (pool: P) => Promise<T>,
  close: (pool: P) => Promise<void> = (pool) => pool.close(),
): Promise<T> {
  const pool = await opening;
  try {
    return await use(pool);
  } finally {
    await close(pool);
  }
}

/** The help text of one command. */
export function commandHelp(command: Command): string {
  const own = Object.entries(command.options).filter(([flag]) => !(flag in CONNECT_OPTIONS));
  const connection = Object.entries(command.options).filter(([flag]) => flag in CONNECT_OPTIONS);
  const groups: Array<[string, Options]> = [
    ['Options', Object.fromEntries(own)],
    ['Connection options (plaintext unless a TLS option is given)', Object.fromEntries(connection)],
    ['Common options', COMMON_OPTIONS],
  ];
  const lines = [`Usage: rpmem ${command.name} ${command.synopsis}`, '', command.description, ''];
  for (const [title, options] of groups) {
    if (Object.keys(options).length === 0) continue;
    lines.push(`${title}:`);
    for (const [flag, o] of Object.entries(options)) {
      const left = `  --${flag}${o.arg ? ` ${o.arg}` : ''}`;
      lines.push(left.length < 30 ? `${left.padEnd(30)}${o.help}` : `${left}\n${' '.repeat(30)}${o.help}`);
    }
    lines.push('');
  }
  lines.push('Examples:', ...command.examples.map((e) => `  ${e}`), '', EXIT_CODES);
  return lines.join('\n');
}
