/**
 * The rpmem command line as a function of argv and three streams: dispatches to commands/ and
 * turns every failure into one line and an exit code: 0 success, 1 the operation failed (or found
 * a problem), 2 bad usage. Stack traces only with --debug. Tests run it in-process.
 */
import { RpmemError, ErrorCode } from '../storage/errors';
import { VERSION } from '../version';
import { COMMON_OPTIONS, Command, EXIT_CODES, UsageError, commandHelp, parseCommandArgs } from './command';
import type { Io } from './output';
import { bench } from './commands/bench';
import { create } from './commands/create';
import { failoverAgent } from './commands/failover-agent';
import { info } from './commands/info';
import { ls } from './commands/ls';
import { promote } from './commands/promote';
import { read } from './commands/read';
import { remove } from './commands/remove';
import { resync } from './commands/resync';
import { status } from './commands/status';
import { verify } from './commands/verify';
import { write } from './commands/write';

const COMMANDS: Command[] = [create, info, ls, read, write, remove, status, verify, resync, promote, failoverAgent, bench];
const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

const USAGE = [
  'Usage: rpmem COMMAND [options]',
  '',
  'Commands on a target (--target HOST:PORT, default 127.0.0.1:7420):',
  ...COMMANDS.filter((c) => 'target' in c.options).map((c) => `  ${c.name.padEnd(Math.max(9, c.name.length + 1))}${c.summary}`),
  '',
  'Commands on a local pool and its replicas (--pool PATH --replica HOST:PORT/NAME ...):',
  ...COMMANDS.filter((c) => !('target' in c.options)).map((c) => `  ${c.name.padEnd(Math.max(9, c.name.length + 1))}${c.summary}`),
  '',
  "Run 'rpmem COMMAND --help' for a command's options and examples. Every command takes",
  ...Object.entries(COMMON_OPTIONS).map(([flag, o]) => `  --${flag.padEnd(7)}${o.help}`),
  'and the connection options --tls, --tls-ca, --tls-cert/--tls-key, --token-file (or RPMEM_TOKEN).',
  '',
  'Examples:',
  '  rpmem create --target 10.0.0.2:7420 --size 64M mypool',
  '  echo hello | rpmem write --target 10.0.0.2:7420 --offset 0 mypool',
  '  rpmem ls --target 10.0.0.2:7420 --json',
  '  rpmem status --pool /var/lib/app/pool --replica node1:7420/pool --replica node2:7420/pool',
  '  rpmem bench --target 10.0.0.2:7420 --size 4K --count 100000',
  '',
  EXIT_CODES,
].join('\n');

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--help' || first === '-h') {
    io.stdout.write(USAGE + '\n');
    return 0;
  }
  if (first === '--version') {
    io.stdout.write(`rpmem ${VERSION}\n`);
    return 0;
  }
  if (first === 'help') {
    const command = rest[0] === undefined ? undefined : BY_NAME.get(rest[0]);
    io.stdout.write((command === undefined ? USAGE : commandHelp(command)) + '\n');
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`the command comes first: rpmem COMMAND [options] (got "${first}")`);
  const command = BY_NAME.get(first);
  if (command === undefined) throw new UsageError(`unknown command "${first}"`);
  const parsed = parseCommandArgs(command, rest, io);
  if (parsed.help) {
    io.stdout.write(commandHelp(command) + '\n');
    return 0;
  }
  return (await command.run(parsed.ctx)) ?? 0;
}

/** One line naming a stable code: RPMEM_E_* for rpmem's errors, the errno name for system errors. */
function errorLine(err: unknown): string {
  if (err instanceof UsageError) return `${ErrorCode.INVALID_ARGUMENT}: ${err.message} (see rpmem --help)`;
  if (err instanceof RpmemError) return `${err.code}: ${err.message}`;
  const code = (err as NodeJS.ErrnoException)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return `${typeof code === 'string' ? code : ErrorCode.INTERNAL}: ${message}`;
}

function stackOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && parts.length < 10; e = (e as Error).cause) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  }
  return parts.join('\ncaused by: ');
}

/** Runs `rpmem ...argv` against `io`; resolves with the exit code (never rejects). */
export async function runCli(argv: string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    io.stderr.write(`rpmem: ${errorLine(err)}\n`);
    if (argv.includes('--debug')) io.stderr.write(stackOf(err) + '\n');
    return err instanceof UsageError ? 2 : 1;
  }
}
