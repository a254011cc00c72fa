/**
 * Checks that records FROM..THROUGH (records.ts) are intact on each replica, written by the primary
 * of EPOCH when given, by reading the replicas read-only (a writer may hold them meanwhile). The
 * compose drill runs it for what a primary acknowledged before it was killed or stopped.
 *
 *   node dist/src/demo/check-records.js --from 1 --through 5000 [--epoch 2] REPLICA...
 *
 * Prints one JSON line {from, through, epoch, replicas: [{replica, missing, firstMissing}]};
 * exits 0 when nothing is missing anywhere, 1 when something is, 2 on a usage error.
 */
import { parseArgs } from 'util';
import { RemotePool } from '../initiator/remote-pool';
import { parseReplica } from '../initiator/replica';
import { RECORD_BYTES, recordIntact, recordOffset } from './records';

const READ_CHUNK_BYTES = 1 << 20;

async function missingOn(
  spec: string,
  from: number,
  through: number,
  epoch: bigint | undefined,
): Promise<{ replica: string; missing: number; firstMissing?: number }> {
  const { target, name } = parseReplica(spec);
  const remote = await RemotePool.open(target, name, { readOnly: true, callTimeoutMs: 10_000 });
  try {
    const start = recordOffset(from);
    const end = Math.min(recordOffset(through + 1), remote.size);
    const area = Buffer.alloc(end);
    for (let at = start; at < end; at += READ_CHUNK_BYTES) {
      (await remote.read(at, Math.min(READ_CHUNK_BYTES, end - at))).copy(area, at);
    }
    let missing = 0;
    let firstMissing: number | undefined;
    for (let n = from; n <= through; n++) {
      if (recordIntact(area, n, epoch)) continue;
      missing++;
      firstMissing ??= n;
    }
    return { replica: spec, missing, firstMissing };
  } finally {
    await remote.close();
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { from: { type: 'string' }, through: { type: 'string' }, epoch: { type: 'string' } },
    allowPositionals: true,
  });
  const from = Number(values.from);
  const through = Number(values.through);
  if (!Number.isSafeInteger(from) || from < 1 || !Number.isSafeInteger(through) || through < from - 1 || positionals.length === 0) {
    console.error('usage: check-records --from N --through M [--epoch E] REPLICA...');
    return 2;
  }
  const epoch = values.epoch === undefined ? undefined : BigInt(values.epoch);
  const replicas = await Promise.all(positionals.map((r) => missingOn(r, from, through, epoch)));
  console.log(JSON.stringify({ from, through, epoch: values.epoch, recordBytes: RECORD_BYTES, replicas }));
  return replicas.every((r) => r.missing === 0) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`check-records: ${e.code ? e.code + ': ' : ''}${e.message ?? String(err)}`);
    process.exit(1);
  },
);
