/**
 * The initiator of the docker-compose cluster: replicates a local pool to the nodes named in
 * RPMEM_REPLICAS and appends self-checking records (records.ts), printing one JSON line per event
 * and one status line every RPMEM_STATUS_MS, so a failover drill can be watched with
 * `docker compose logs -f` and checked against what was acknowledged.
 *
 * Two ways to be primary:
 * - without RPMEM_ETCD it opens (or creates) the pool and is primary at once; after a failover an
 *   operator promotes another node (`rpmem promote`) and this one is fenced;
 * - with RPMEM_ETCD it is a FailoverCandidate of group RPMEM_GROUP: it stands by until elected,
 *   promotes, appends from the last record its copy holds, and stops when demoted.
 *
 * Environment: RPMEM_REPLICAS (comma-separated host:port/name), RPMEM_POOL (local pool path),
 * RPMEM_POOL_SIZE (bytes, default 64 MiB, used when creating), RPMEM_ACK (all | majority | k,
 * default majority), RPMEM_RATE (records per second, default 300), RPMEM_STATUS_MS (default 250);
 * RPMEM_ETCD (comma-separated client URLs), RPMEM_GROUP (default demo), RPMEM_MEMBER (default the
 * hostname), RPMEM_TTL (lease seconds, default 10). SIGTERM drains, closes (leaves the group) and
 * exits 0.
 *
 * Status lines: {type: 'status', role, epoch, acked, ackedFrom, ackedThrough, waits, replicas,
 * degraded}, counting the current term as primary: records ackedFrom..ackedThrough were all
 * acknowledged, which a checker may demand of every later primary.
 */
import * as os from 'os';
import { RpmemError, describeError } from '../storage/errors';
import { CandidateRole } from '../initiator/failover/candidate-options';
import { FailoverCandidate } from '../initiator/failover/failover-candidate';
import { ReplicatedPool, ReplicatedPoolEvents, ReplicatedPoolOptions, WritePolicy } from '../initiator/replicated-pool';
import { RecordWriter } from './record-writer';
import { lastRecord } from './records';

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

function line(obj: Record<string, unknown>): void {
  process.stdout.write(
    JSON.stringify({ time: new Date().toISOString(), ...obj }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
  );
}

/** The acks of one term as primary: how many, and the contiguous run of acknowledged records from its first. */
class AckLog {
  acked = 0;
  waits = 0;
  /** Highest N such that records first..N were all acknowledged (first - 1 when none). */
  through: number;
  private readonly above = new Set<number>();

  constructor(readonly first: number) {
    this.through = first - 1;
  }

  ack(n: number): void {
    this.acked++;
    this.above.add(n);
    while (this.above.delete(this.through + 1)) this.through++;
  }
}

async function main(): Promise<void> {
  const replicas = env('RPMEM_REPLICAS')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ackRaw = env('RPMEM_ACK', 'majority');
  const ack: WritePolicy = ackRaw === 'all' || ackRaw === 'majority' ? ackRaw : Number(ackRaw);
  const rate = Number(env('RPMEM_RATE', '300'));
  const path = env('RPMEM_POOL');
  let log = new AckLog(1);
  let role = 'starting';
  let pool: ReplicatedPool | undefined;
  let writer: RecordWriter | undefined;

  const events: Array<keyof ReplicatedPoolEvents> = [
    'replica-down',
    'replica-up',
    'resync-progress',
    'resync-done',
    'degraded',
    'restored',
    'fenced',
  ];
  const on = Object.fromEntries(
    events.map((event) => [
      event,
      (payload: Record<string, unknown>) => {
        const error = payload.error as RpmemError | undefined;
        line({ type: 'event', event, ...payload, ...(error ? { error: describeError(error) } : {}) });
      },
    ]),
  ) as ReplicatedPoolOptions['on'];
  const options: ReplicatedPoolOptions = { replicas, ack, ackTimeoutMs: 3000, callTimeoutMs: 3000, openWaitMs: 60_000, on };

  /** Appends from the record after the last one the pool holds. */
  const serve = (rp: ReplicatedPool, how: string): void => {
    pool = rp;
    role = 'primary';
    const first = lastRecord(rp.buffer) + 1;
    log = new AckLog(first);
    line({ type: 'primary', how, epoch: rp.epoch, first, promotion: rp.promotion });
    writer = new RecordWriter(rp, first, rate, {
      acked: (n) => log.ack(n),
      waiting: (n, e) => {
        log.waits++;
        line({ type: 'event', event: 'waiting-for-quorum', record: n, error: describeError(e) });
      },
    });
    writer.start();
    void writer.ended().then((why) => {
      if (why !== undefined) line({ type: 'event', event: 'writer-stopped', error: describeError(why) });
    });
  };
  let elector: FailoverCandidate | undefined;
  const etcd = process.env.RPMEM_ETCD;
  if (etcd !== undefined && etcd !== '') {
    role = 'standby';
    elector = new FailoverCandidate({
      ...options,
      path,
      group: env('RPMEM_GROUP', 'demo'),
      member: env('RPMEM_MEMBER', os.hostname()),
      etcd: {
        hosts: etcd
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      },
      ttlSeconds: Number(env('RPMEM_TTL', '10')),
    });
    elector.on('elected', ({ pool: rp }) => serve(rp, 'elected'));
    elector.on('standby', ({ leader }) => {
      role = 'standby';
      line({ type: 'standby', leader });
    });
    elector.on('demoted', ({ epoch, reason }) => {
      role = 'standby';
      pool = undefined;
      void writer?.stop().catch(() => undefined);
      line({ type: 'demoted', epoch, reason });
    });
    elector.on('warning', (e) => line({ type: 'event', event: 'warning', error: describeError(e) }));
    await elector.start();
  } else {
    serve(
      await ReplicatedPool.open(path, { ...options, create: { size: Number(env('RPMEM_POOL_SIZE', String(64 * 1024 * 1024))) } }),
      'open',
    );
  }

  const statusMs = Number(env('RPMEM_STATUS_MS', '250'));
  const status = setInterval(() => {
    const replicaStates = pool ? Object.fromEntries(pool.status().map((s) => [s.replica, s.state])) : {};
    line({
      type: 'status',
      role,
      epoch: pool?.epoch,
      acked: log.acked,
      ackedFrom: log.first,
      ackedThrough: log.through,
      waits: log.waits,
      replicas: replicaStates,
      degraded: pool ? Object.values(replicaStates).some((s) => s !== 'up') : undefined,
    });
  }, statusMs);

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  clearInterval(status);
  await writer?.stop().catch((e: unknown) => line({ type: 'event', event: 'writer-stopped', error: describeError(e) }));
  // Leaving the group demotes a primary: report the term that just ended, not the role after it.
  const term = { role, epoch: pool?.epoch };
  if (elector !== undefined && elector.role !== CandidateRole.Stopped) await elector.stop();
  else await pool?.close();
  line({ type: 'stopped', ...term, acked: log.acked, ackedFrom: log.first, ackedThrough: log.through });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    line({ type: 'error', error: describeError(err) });
    process.exit(1);
  },
);
