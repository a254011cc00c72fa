/**
 * A FailoverCandidate in its own process, for failover tests: joins a group from a JSON argument;
 * while elected it persists stamped records and prints one line per event, each with the
 * process's CLOCK_MONOTONIC time in ns (process.hrtime, the same clock in every process):
 *   elected EPOCH NS SNAPSHOT   (SNAPSHOT: JSON array of the stamp in every slot at election)
 *   acked VALUE EPOCH NS DELIVERED   (VALUE = EPOCH × 1e6 + n, stamped into slot n % SLOTS; NS = the
 *                                    ack's acknowledgedNs; DELIVERED = when this process's callback ran)
 *   demoted EPOCH NS REASON
 *   standby NS LEADER
 *   warning NS CODE MESSAGE
 * It runs until the test kills it.
 */
import { FailoverCandidate } from '../../src/initiator/failover/failover-candidate';
import type { ReplicatedPool } from '../../src/initiator/replicated-pool';
import { RpmemError } from '../../src/storage/errors';
import { SLOT_BYTES, SLOTS, stamp, stampAt } from './stamps';

export interface CandidateArgs {
  path: string;
  replicas: string[];
  etcd: string;
  group: string;
  member: string;
  ttlSeconds: number;
}

/** Records a term may write: bounded, so a test that forgets a primary cannot fill a disk. */
const MAX_RECORDS_PER_TERM = 900_000;
const INFLIGHT = 16;

function now(): string {
  return process.hrtime.bigint().toString();
}

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function write(pool: ReplicatedPool, epoch: bigint, term: { over: boolean }): Promise<void> {
  const inflight = new Set<Promise<void>>();
  const base = Number(epoch) * 1_000_000;
  for (let n = 0; n < MAX_RECORDS_PER_TERM && !term.over; n++) {
    const value = base + n;
    const slot = n % SLOTS;
    stamp(value).copy(pool.buffer, slot * SLOT_BYTES);
    const p = pool.persist(slot * SLOT_BYTES, SLOT_BYTES).then(
      // Both the moment rpmem acknowledged it and when this callback ran: a pause can fall in between.
      (result) => line(`acked ${value} ${epoch} ${result.acknowledgedNs} ${now()}`),
      async (err: RpmemError) => {
        // A fenced or closed pool rejects every persist at once: stop, or this loop would spin on
        // microtasks and starve the timers that renew the lease and emit 'demoted'.
        if (err.code === 'RPMEM_E_FENCED' || err.code === 'RPMEM_E_CLOSED') term.over = true;
        else if (err.code === 'RPMEM_E_QUORUM') await pool.waitForQuorum({ timeoutMs: 1000 }).catch(() => undefined);
      },
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    // Slots are reused: never store into one whose previous persist is still in flight.
    if (inflight.size >= INFLIGHT) await Promise.race(inflight);
    if (slot === SLOTS - 1) {
      await Promise.all(inflight);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await Promise.all(inflight);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as CandidateArgs;
  const candidate = new FailoverCandidate({
    path: args.path,
    replicas: args.replicas,
    etcd: { hosts: [args.etcd] },
    group: args.group,
    member: args.member,
    ttlSeconds: args.ttlSeconds,
    granularity: 'cache-line',
    ackTimeoutMs: 2000,
    callTimeoutMs: 2000,
  });
  let term = { over: true };
  candidate.on('elected', ({ pool, epoch }) => {
    const snapshot = Array.from({ length: SLOTS }, (_, slot) => stampAt(pool.buffer, slot) ?? -1);
    line(`elected ${epoch} ${now()} ${JSON.stringify(snapshot)}`);
    term = { over: false };
    void write(pool, epoch, term);
  });
  candidate.on('demoted', ({ epoch, reason }) => {
    term.over = true;
    line(`demoted ${epoch} ${now()} ${reason}`);
  });
  candidate.on('standby', ({ leader }) => line(`standby ${now()} ${leader ?? '-'}`));
  candidate.on('warning', (err) => line(`warning ${now()} ${err.code} ${err.message.replace(/\n/g, ' ')}`));
  await candidate.start();
  line(`started ${now()}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`candidate failed: ${String(err)}\n`);
  process.exit(1);
});
