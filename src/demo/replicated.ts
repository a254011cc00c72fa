/**
 * The initiator of the docker-compose cluster: replicates a local pool to the nodes named in
 * RPMEM_REPLICAS and keeps persisting, printing one JSON line per event and one status line per
 * second, so a failover drill can be watched with `docker compose logs -f initiator`.
 *
 * Environment: RPMEM_REPLICAS (comma-separated host:port/name), RPMEM_POOL (local pool path),
 * RPMEM_POOL_SIZE (bytes, default 64 MiB), RPMEM_ACK (all | majority | k, default majority),
 * RPMEM_RATE (persists per second, default 300). SIGTERM drains, closes and exits 0.
 */
import * as crypto from 'crypto';
import { ReplicatedPool, ReplicatedPoolEvents, WritePolicy } from '../initiator/replicated-pool';

const RANGE_BYTES = 4096;

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

function line(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...obj }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

async function main(): Promise<void> {
  const replicas = env('RPMEM_REPLICAS').split(',').map((s) => s.trim()).filter(Boolean);
  const ackRaw = env('RPMEM_ACK', 'majority');
  const ack: WritePolicy = ackRaw === 'all' || ackRaw === 'majority' ? ackRaw : Number(ackRaw);
  const rate = Number(env('RPMEM_RATE', '300'));
  const rp = await ReplicatedPool.open(env('RPMEM_POOL'), {
    replicas,
    ack,
    create: { size: Number(env('RPMEM_POOL_SIZE', String(64 * 1024 * 1024))) },
    ackTimeoutMs: 3000,
    callTimeoutMs: 3000,
    openWaitMs: 60_000,
  });
  const events: Array<keyof ReplicatedPoolEvents> = ['replica-down', 'replica-up', 'resync-progress', 'resync-done', 'degraded', 'restored', 'fenced'];
  for (const event of events) {
    rp.on(event, (payload: Record<string, unknown>) => {
      const error = payload.error as { code?: string; message?: string } | undefined;
      line({ type: 'event', event, ...payload, ...(error ? { error: `${error.code}: ${error.message}` } : {}) });
    });
  }
  const counts = { persisted: 0, acked: 0, failed: 0 };
  let stopping = false;
  const status = setInterval(() => {
    const replicaStates = Object.fromEntries(rp.status().map((s) => [s.replica, s.state]));
    line({ type: 'status', ...counts, replicas: replicaStates, degraded: Object.values(replicaStates).some((s) => s !== 'up') });
  }, 1000);
  process.on('SIGTERM', () => (stopping = true));
  process.on('SIGINT', () => (stopping = true));

  const slots = Math.floor(rp.size / RANGE_BYTES);
  const busy = new Set<number>();
  const tickMs = 10;
  while (!stopping) {
    for (let i = 0; i < Math.max(1, Math.round((rate * tickMs) / 1000)); i++) {
      const slot = crypto.randomInt(slots);
      if (busy.has(slot)) continue;
      busy.add(slot);
      crypto.randomFillSync(rp.buffer, slot * RANGE_BYTES, RANGE_BYTES);
      counts.persisted++;
      rp.persist(slot * RANGE_BYTES, RANGE_BYTES).then(
        () => counts.acked++,
        () => counts.failed++,
      ).finally(() => busy.delete(slot));
    }
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  clearInterval(status);
  await rp.close();
  line({ type: 'stopped', ...counts });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    line({ type: 'error', error: `${e.code ?? 'ERROR'}: ${e.message ?? String(err)}` });
    process.exit(1);
  },
);
