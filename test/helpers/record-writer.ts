/**
 * A primary in its own process for failover histories: opens (or promotes) a ReplicatedPool from a
 * JSON argument, writes write-once records (helpers/records.ts) at `ack: majority`, four in
 * flight, and prints one line per event until it is killed or fenced:
 *
 *   open EPOCH         the pool is open as primary at EPOCH
 *   acked N            record N resolved (acknowledged)
 *   refused CODE       open or promote failed with CODE (exit 3)
 *   fenced             a replica reported a newer primary (exit 3)
 */
import { RpmemError, ErrorCode } from '../../src/storage/errors';
import { promote } from '../../src/initiator/promote';
import { ReplicatedPool, ReplicatedPoolOptions } from '../../src/initiator/replicated-pool';
import { RECORD_BYTES, SLOTS_PER_WRITER, record, recordOffset } from './records';

export interface RecordWriterArgs {
  mode: 'open' | 'promote';
  path: string;
  replicas: string[];
  size: number;
  writer: number;
  /** Records to write before idling; default until killed (bounded by the writer's slots). */
  records?: number;
}

const IN_FLIGHT = 4;
const PACE_MS = 1;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function openPool(args: RecordWriterArgs): Promise<ReplicatedPool> {
  const options: ReplicatedPoolOptions = {
    replicas: args.replicas,
    ack: 'majority',
    granularity: 'cache-line',
    ackTimeoutMs: 2000,
    callTimeoutMs: 2000,
    reconnect: { initialMs: 50, maxMs: 500 },
  };
  return args.mode === 'promote'
    ? promote(args.path, options)
    : ReplicatedPool.open(args.path, { ...options, create: { size: args.size } });
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as RecordWriterArgs;
  let pool: ReplicatedPool;
  try {
    pool = await openPool(args);
  } catch (err) {
    say(`refused ${err instanceof RpmemError ? err.code : String(err)}`);
    process.exit(3);
  }
  pool.on('fenced', () => {
    say('fenced');
    process.exit(3);
  });
  say(`open ${pool.epoch}`);
  const inflight = new Set<Promise<void>>();
  const total = Math.min(args.records ?? SLOTS_PER_WRITER, SLOTS_PER_WRITER);
  for (let n = 0; n < total; n++) {
    // Paced, so a writer lasts seconds rather than milliseconds of its slots.
    await new Promise((resolve) => setTimeout(resolve, PACE_MS));
    const at = recordOffset(args.writer, n);
    record(args.writer, n).copy(pool.buffer, at);
    const p = pool.persist(at, RECORD_BYTES).then(
      () => say(`acked ${n}`),
      async (err: RpmemError) => {
        if (err.code === ErrorCode.QUORUM) await pool.waitForQuorum({ timeoutMs: 60_000 }).catch(() => undefined);
      },
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  say('done');
  await new Promise(() => undefined);
}

void main();
