#!/usr/bin/env node
/**
 * rpmem: the command-line client. Each command is one short function over the public API.
 * Exit codes: 0 success, 1 the operation failed (an RpmemError, printed as one line), 2 bad usage.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { RemotePool } from '../initiator/remote-pool';
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

Options:
  --target HOST:PORT               the rpmemd to talk to (default 127.0.0.1:7420)
  --json                           print results as JSON
  --help, --version

Examples:
  rpmem create --target 127.0.0.1:7420 --size 64M mypool
  echo hello | rpmem write --target 127.0.0.1:7420 --offset 0 mypool
  rpmem read --target 127.0.0.1:7420 --offset 0 --length 5 mypool

Exit codes: 0 success, 1 the operation failed, 2 bad usage.`;

class UsageError extends Error {}

interface Args {
  command: string;
  name: string;
  target: string;
  json: boolean;
  values: Record<string, string | boolean | undefined>;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

function parseSize(flag: string, raw: string | boolean | undefined): number {
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
  const [command, name, ...extra] = positionals;
  if (command === undefined) throw new UsageError('no command given');
  if (name === undefined) throw new UsageError(`${command} needs a pool NAME`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  return { command, name, target: values.target as string, json: values.json === true, values };
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
