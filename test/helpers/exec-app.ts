/**
 * The application `rpmem failover-agent --exec` runs in the agent tests: it opens the pool the
 * agent released, from the environment the agent passes (RPMEM_POOL, RPMEM_REPLICAS, RPMEM_ACK),
 * writes write-once records (helpers/records.ts) as writer RPMEM_EPOCH − 1, and prints one line per
 * event, each with its CLOCK_MONOTONIC time in ns (the clock every process of the test shares):
 *
 *   open EPOCH NS        the pool is open at EPOCH (exit 4 if that is not RPMEM_EPOCH)
 *   acked N EPOCH NS     record N resolved (acknowledged)
 *   fenced EPOCH NS      a persist was refused because a newer primary claimed the replicas;
 *                        the app then writes nothing more and waits to be killed
 *   refused CODE NS      open failed with CODE (exit 3)
 *   done NS              out of slots: it idles, so a test that outlasts it sees it never fenced
 *
 * With EXEC_APP_RECORDS=K it writes K records, then exits 0 ("exits by itself").
 */
import { RpmemError, ErrorCode } from '../../src/storage/errors';
import { ReplicatedPool, WritePolicy } from '../../src/initiator/replicated-pool';
import { EXEC_APP_SLOTS, EXEC_APP_WRITERS } from './exec-app-layout';
import { RECORD_BYTES, record, recordOffset } from './records';

const IN_FLIGHT = 4;
const PACE_MS = 2;
/** A fenced or finished app that nobody killed leaves on its own after this long, so no test leaks it. */
const FENCED_LINGER_MS = 120_000;

function say(line: string): void {
  process.stdout.write(`${line} ${process.hrtime.bigint()}\n`);
}

function policy(text: string): WritePolicy {
  return text === 'all' || text === 'majority' ? text : Number(text);
}

async function main(): Promise<void> {
  const epoch = BigInt(process.env.RPMEM_EPOCH!);
  const writer = Number(epoch) - 1;
  if (writer < 0 || writer >= EXEC_APP_WRITERS) throw new Error(`epoch ${epoch} is outside the test pool's ${EXEC_APP_WRITERS} writers`);
  const limit = process.env.EXEC_APP_RECORDS === undefined ? undefined : Number(process.env.EXEC_APP_RECORDS);
  let pool: ReplicatedPool;
  try {
    pool = await ReplicatedPool.open(process.env.RPMEM_POOL!, {
      replicas: process.env.RPMEM_REPLICAS!.split(','),
      ack: policy(process.env.RPMEM_ACK!),
      ackTimeoutMs: 2000,
      callTimeoutMs: 2000,
      reconnect: { initialMs: 50, maxMs: 500 },
    });
  } catch (err) {
    say(`refused ${err instanceof RpmemError ? err.code : String(err)}`);
    process.exit(3);
  }
  say(`open ${pool.epoch}`);
  if (pool.epoch !== epoch) process.exit(4);
  const state = { fenced: false };
  const fenced = (): void => {
    if (state.fenced) return;
    state.fenced = true;
    say(`fenced ${epoch}`);
  };
  pool.on('fenced', fenced);
  const inflight = new Set<Promise<void>>();
  for (let n = 0; n < Math.min(limit ?? EXEC_APP_SLOTS, EXEC_APP_SLOTS) && !state.fenced; n++) {
    await new Promise((resolve) => setTimeout(resolve, PACE_MS));
    const at = recordOffset(writer, n, EXEC_APP_SLOTS);
    record(writer, n).copy(pool.buffer, at);
    const p = pool.persist(at, RECORD_BYTES).then(
      () => say(`acked ${n} ${epoch}`),
      async (err: RpmemError) => {
        if (err.code === ErrorCode.FENCED) fenced();
        else if (err.code === ErrorCode.QUORUM) await pool.waitForQuorum({ timeoutMs: 1000 }).catch(() => undefined);
      },
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    if (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (!state.fenced && limit !== undefined) {
    await pool.close();
    process.exit(0);
  }
  if (!state.fenced) say('done');
  setTimeout(() => process.exit(5), FENCED_LINGER_MS);
}

main().catch((err: unknown) => {
  process.stderr.write(`exec-app failed: ${String(err)}\n`);
  process.exit(1);
});
