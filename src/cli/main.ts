#!/usr/bin/env node
/**
 * rpmem: the command-line client. Each command is one short function over the public API.
 * Exit codes: 0 success, 1 the operation failed (an RpmemError, printed as one line), 2 bad usage.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { RemotePool } from '../initiator/remote-pool';
import { promote } from '../initiator/promote';
import type { WritePolicy } from '../initiator/replicated-pool';
import { verifyPool } from '../initiator/verify-pool';
import { RpmemError } from '../common/errors';
import { VERSION } from '../common/version';

const USAGE = `Usage: rpmem <command> [--target HOST:PORT] [options] NAME

Commands:
  create NAME --size SIZE          create a pool of SIZE usable bytes (suffixes K, M, G: powers of 1024)
  info NAME                        print a pool's size, granularity, durable seq and attributes
  write NAME --offset N [--data TEXT | --file F]
                                   persist bytes at offset N (from --data, --file, or stdin)
  read NAME --offset N --length N [--out F]
                                   read bytes (to --out, or stdout)
  remove NAME                      remove a pool
  verify --pool PATH --replica HOST:PORT/NAME [--replica ...]
                                   compare a local pool with its replicas block by block;
                                   exit 1 if any differs or cannot be reached
  promote --pool PATH --replica HOST:PORT/NAME [--replica ...] [--ack POLICY]
                                   make PATH the new primary after the old one was lost: fence a
                                   majority of replicas, copy the best one down, resync the rest

Options:
  --target HOST:PORT               the rpmemd to talk to (default 127.0.0.1:7420)
  --json                           print results as JSON
  --help, --version

Examples:
  rpmem create --target 127.0.0.1:7420 --size 64M mypool
  echo hello | rpmem write --target 127.0.0.1:7420 --offset 0 mypool
  rpmem read --target 127.0.0.1:7420 --offset 0 --length 5 mypool
  rpmem verify --pool /var/lib/app/pool --replica node1:7420/pool --replica node2:7420/pool
  rpmem promote --pool /var/lib/app/pool --replica node2:7420/pool --replica node3:7420/pool --json

Exit codes: 0 success, 1 the operation failed, 2 bad usage.`;

class UsageError extends Error {}

/** Commands about a local pool and its replicas: --pool and --replica instead of NAME. */
const LOCAL_COMMANDS = new Set(['verify', 'promote']);

function localArgs(args: Args): { pool: string; replicas: string[] } {
  const pool = args.values.pool;
  const replicas = (args.values.replica ?? []) as string[];
  if (typeof pool !== 'string') throw new UsageError(`${args.command} needs --pool PATH`);
  if (replicas.length === 0) throw new UsageError(`${args.command} needs at least one --replica HOST:PORT/NAME`);
  return { pool, replicas };
}

function parsePolicy(raw: unknown): WritePolicy | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'all' || raw === 'majority') return raw;
  if (typeof raw === 'string' && /^\d+$/.test(raw)) return Number(raw);
  throw new UsageError(`--ack must be all, majority or a number, got "${String(raw)}"`);
}

interface Args {
  command: string;
  /** The pool NAME positional ('' for commands that take --pool instead). */
  name: string;
  target: string;
  json: boolean;
  values: Record<string, string | boolean | string[] | undefined>;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

function parseSize(flag: string, raw: unknown): number {
  const m = typeof raw === 'string' ? /^(\d+)([KMG]?)$/i.exec(raw) : null;
  if (m === null) throw new UsageError(`--${flag} needs a number (with an optional K, M or G suffix)`);
  const n = Number(m[1]) * UNITS[m[2].toUpperCase()];
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${flag} is too large`);
  return n;
}

function parse(argv: string[]): Args | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string', default: '127.0.0.1:7420' },
        size: { type: 'string' },
        offset: { type: 'string' },
        length: { type: 'string' },
        data: { type: 'string' },
        file: { type: 'string' },
        out: { type: 'string' },
        pool: { type: 'string' },
        replica: { type: 'string', multiple: true },
        ack: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (values.version) return 'version';
  const [command, ...rest] = positionals;
  if (command === undefined) throw new UsageError('no command given');
  const takesName = !LOCAL_COMMANDS.has(command);
  if (takesName && rest.length === 0) throw new UsageError(`${command} needs a pool NAME`);
  const extra = takesName ? rest.slice(1) : rest;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  return { command, name: takesName ? rest[0] : '', target: values.target as string, json: values.json === true, values };
}

function print(args: Args, human: string, json: unknown): void {
  process.stdout.write(args.json ? JSON.stringify(json, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n' : human + '\n');
}

async function readInput(args: Args): Promise<Buffer> {
  if (typeof args.values.data === 'string') return Buffer.from(args.values.data);
  if (typeof args.values.file === 'string') return fs.readFileSync(args.values.file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const COMMANDS: Record<string, (args: Args) => Promise<void>> = {
  async create(args) {
    const size = parseSize('size', args.values.size);
    const pool = await RemotePool.create(args.target, args.name, { size });
    const granularity = pool.granularity;
    await pool.close();
    print(args, `created ${args.name}: ${size} bytes, ${granularity} granularity`, { name: args.name, size, granularity });
  },
  async info(args) {
    const info = await RemotePool.stat(args.target, args.name);
    const human = [
      `name:         ${info.name}`,
      `size:         ${info.size}`,
      `granularity:  ${info.granularity}`,
      `durable seq:  ${info.durableSeq}`,
      `epoch:        ${info.epoch}`,
      `open:         ${info.open}`,
      `pool uuid:    ${info.poolUuid.toString('hex')}`,
      `signature:    ${info.attr.signature.toString('hex')}`,
    ].join('\n');
    const attr = Object.fromEntries(Object.entries(info.attr).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v]));
    print(args, human, { ...info, poolUuid: info.poolUuid.toString('hex'), attr });
  },
  async write(args) {
    const offset = parseSize('offset', args.values.offset);
    const data = await readInput(args);
    if (data.length === 0) throw new UsageError('nothing to write (empty input)');
    const pool = await RemotePool.open(args.target, args.name);
    try {
      const { seq, granularity } = await pool.persist(offset, data);
      print(args, `wrote ${data.length} bytes at ${offset}: durable (${granularity}), seq ${seq}`, { offset, length: data.length, seq, granularity });
    } finally {
      await pool.close();
    }
  },
  async read(args) {
    const offset = parseSize('offset', args.values.offset);
    const length = parseSize('length', args.values.length);
    const pool = await RemotePool.open(args.target, args.name, { readOnly: true });
    try {
      const data = await pool.read(offset, length);
      if (typeof args.values.out === 'string') fs.writeFileSync(args.values.out, data);
      else if (args.json) print(args, '', { offset, length, base64: data.toString('base64') });
      else process.stdout.write(data);
    } finally {
      await pool.close();
    }
  },
  async verify(args) {
    const { pool: file, replicas } = localArgs(args);
    const report = await verifyPool(file, replicas);
    const identical = report.every((r) => r.compared && r.differing.length === 0);
    const lines = report.map((r) =>
      !r.compared
        ? `${r.replica}: UNREACHABLE (${r.error})`
        : r.differing.length === 0
          ? `${r.replica}: identical`
          : `${r.replica}: ${r.differing.length} differing range(s): ${r.differing.map((d) => `[${d.start}, ${d.end})`).join(' ')}`,
    );
    print(args, lines.join('\n'), { identical, replicas: report });
    if (!identical) process.exitCode = 1;
  },
  async promote(args) {
    const { pool: file, replicas } = localArgs(args);
    const pool = await promote(file, { replicas, ack: parsePolicy(args.values.ack) ?? 'majority' });
    try {
      const status = pool.status();
      const human = [`promoted ${file} to primary at epoch ${pool.epoch}`, ...status.map((s) => `  ${s.replica}: ${s.state}`)].join('\n');
      print(args, human, { pool: file, epoch: pool.epoch, replicas: status });
    } finally {
      await pool.close();
    }
  },
  async remove(args) {
    await RemotePool.remove(args.target, args.name);
    print(args, `removed ${args.name}`, { name: args.name, removed: true });
  },
};

async function main(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (args === 'version') {
    process.stdout.write(`rpmem ${VERSION}\n`);
    return 0;
  }
  const run = COMMANDS[args.command];
  if (run === undefined) throw new UsageError(`unknown command "${args.command}"`);
  await run(args);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`rpmem: ${err.message}\n${USAGE.split('\n')[0]}\n`);
      process.exit(2);
    }
    const line = err instanceof RpmemError ? `${err.code}: ${err.message}` : (err as Error).message ?? String(err);
    process.stderr.write(`rpmem: ${line}\n`);
    process.exit(1);
  },
);
