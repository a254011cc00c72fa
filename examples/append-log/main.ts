/**
 * The append-only log example: opens (or creates) a pool replicated to two targets, recovers the
 * log in it, appends records, and closes. `--crash-after K` kills the process with SIGKILL after
 * K appends, right after the next record is durable but before the tail covering it is: run again
 * to see recovery return exactly the acknowledged records.
 *
 * Usage: node dist/examples/append-log/main.js --pool FILE --replica HOST:PORT/NAME --replica ...
 *          [--append N] [--crash-after K]
 */
import { parseArgs } from 'util';
import { ReplicatedPool, RpmemError } from '../../src';
import { AppendLog } from './append-log';

const POOL_BYTES = 4 * 1024 * 1024;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      pool: { type: 'string' },
      replica: { type: 'string', multiple: true },
      append: { type: 'string', default: '10' },
      'crash-after': { type: 'string' },
    },
  });
  if (values.pool === undefined || values.replica === undefined) {
    process.stderr.write('usage: main.js --pool FILE --replica HOST:PORT/NAME [--replica ...] [--append N] [--crash-after K]\n');
    return 2;
  }
  const crashAfter = values['crash-after'] === undefined ? undefined : Number(values['crash-after']);
  const pool = await ReplicatedPool.open(values.pool, { replicas: values.replica, ack: 'all', create: { size: POOL_BYTES } });
  try {
    const { log, recovered } = await AppendLog.open(pool);
    console.log(`recovered ${recovered.records.length} record(s)`);
    if (recovered.records.length > 0) console.log(`last: ${recovered.records[recovered.records.length - 1].toString()}`);
    if (recovered.unacknowledged) console.log('ignored 1 record past the tail: written, never acknowledged');
    const count = Number(values.append);
    for (let i = 0; i < count; i++) {
      const record = Buffer.from(`record ${recovered.records.length + i + 1} from pid ${process.pid}`);
      if (i === crashAfter) {
        await log.writeRecordOnly(record);
        console.log(`crashing after ${i} append(s), with record ${recovered.records.length + i + 1} durable but not acknowledged`);
        process.kill(process.pid, 'SIGKILL');
      }
      await log.append(record);
    }
    console.log(`appended ${count}; the log holds ${recovered.records.length + count} record(s)`);
  } finally {
    await pool.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof RpmemError ? `${err.code}: ${err.message}` : err);
    process.exit(1);
  },
);
