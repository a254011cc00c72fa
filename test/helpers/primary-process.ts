/**
 * A primary in its own process, for promotion tests: opens a ReplicatedPool from a JSON argument,
 * persists stamped ranges forever, and prints `acked N` for each one that resolved — until the
 * test SIGKILLs it.
 */
import { ReplicatedPool } from '../../src/initiator/replicated-pool';
import { SLOT_BYTES, SLOTS, stamp } from './stamps';

interface Args {
  path: string;
  replicas: string[];
  size: number;
  /** Persists in flight at most. */
  inflight: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as Args;
  const rp = await ReplicatedPool.open(args.path, {
    replicas: args.replicas,
    ack: 'majority',
    create: { size: args.size },
    granularity: 'cache-line',
    ackTimeoutMs: 2000,
  });
  process.stdout.write(`open ${rp.epoch}\n`);
  const inflight = new Set<Promise<void>>();
  for (let n = 0; n < 10_000_000; n++) {
    stamp(n).copy(rp.buffer, (n % SLOTS) * SLOT_BYTES);
    const p = rp.persist((n % SLOTS) * SLOT_BYTES, SLOT_BYTES).then(() => void process.stdout.write(`acked ${n}\n`));
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    // Slots are reused: never store into one whose previous persist is still in flight.
    if (inflight.size >= args.inflight) await Promise.race(inflight);
    if (n % SLOTS === SLOTS - 1) await Promise.all(inflight);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`primary failed: ${String(err)}\n`);
  process.exit(1);
});
