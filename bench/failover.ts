/**
 * Failover time through etcd, measured (never asserted): SIGKILL of the primary under load → the
 * first acknowledged persist of the new primary, over --runs runs (default 10), against the TTL.
 * Real processes: etcd, three rpmemd (cache-line, /dev/shm), two candidate processes.
 *
 *   node dist/bench/failover.js [--runs N] [--ttl SECONDS]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { RemotePool } from '../src/initiator/remote-pool';
import { CandidateProcess, History, monoNs } from '../test/helpers/candidate-group';
import { TestEtcd } from '../test/helpers/etcd';
import { LeaderWatch } from '../test/helpers/leader-watch';
import { SLOT_BYTES, SLOTS } from '../test/helpers/stamps';
import { BenchTarget } from './targets';
import { cleanupAll, installCleanup, trackChild } from './cleanup';

const SERVING_ACKS = 50;
const WAIT_MS = 60_000;

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (let i = 0; !condition(); i++) {
    if (Date.now() > deadline || i > WAIT_MS / 5) throw new Error(`${what} not within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function median(sorted: number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, ttl: { type: 'string', default: '3' } } });
  const runs = Number(values.runs);
  const ttlSeconds = Number(values.ttl);
  installCleanup();
  const etcd = await TestEtcd.start();
  const targets = [];
  for (let i = 0; i < 3; i++) targets.push(await BenchTarget.start('cache-line', 64 * 1024 * 1024, `failover${i}`, false));
  const dir = fs.mkdtempSync(path.join('/dev/shm', 'rpmem-bench-failover-'));
  const times: number[] = [];
  /** Per run: SIGKILL -> leader key deleted (lease expiry seen), -> new primary elected (promoted), -> its first ack. */
  const phases: Array<{ expiry: number; elected: number; firstAck: number }> = [];
  try {
    for (let run = 0; run < runs; run++) {
      const name = `bench-fo${run}`;
      await Promise.all(targets.map(async (t) => (await RemotePool.create(t.daemon.address, name, { size: SLOTS * SLOT_BYTES })).close()));
      const replicas = targets.map((t) => `${t.daemon.address}/${name}`);
      const history = new History();
      const watch = await LeaderWatch.start(etcd.url, name);
      const candidates = ['a', 'b'].map(
        (member) =>
          new CandidateProcess(
            member,
            { path: path.join(dir, `${name}-${member}.pool`), replicas, etcd: etcd.url, group: name, ttlSeconds },
            history,
          ),
      );
      candidates.forEach((c) => trackChild(c.child));
      try {
        await until(() => history.elections.length > 0 && history.acks.length >= SERVING_ACKS, 'a first primary serving');
        const primary = candidates.find((c) => c.member === history.elections[0].member)!;
        const killedAt = monoNs();
        primary.signal('SIGKILL');
        await until(() => history.acks.some((a) => a.member !== primary.member && a.ns > killedAt), "the new primary's first ack");
        const first = history.acks.find((a) => a.member !== primary.member && a.ns > killedAt)!;
        const ms = Number(first.ns - killedAt) / 1e6;
        const expiredAt = watch.deletedAfter(killedAt) ?? first.ns;
        const electedAt = history.elections.find((e) => e.member !== primary.member && e.ns > killedAt)!.ns;
        times.push(ms);
        phases.push({
          expiry: Number(expiredAt - killedAt) / 1e6,
          elected: Number(electedAt - expiredAt) / 1e6,
          firstAck: Number(first.ns - electedAt) / 1e6,
        });
        const p = phases[phases.length - 1];
        process.stderr.write(
          `[failover] run ${run + 1}/${runs}: ${ms.toFixed(0)} ms (TTL ${ttlSeconds * 1000} ms): lease expiry seen after ${p.expiry.toFixed(0)} ms, elected and promoted ${p.elected.toFixed(0)} ms later, first ack ${p.firstAck.toFixed(0)} ms later\n`,
        );
      } finally {
        await Promise.all(candidates.map((c) => c.kill()));
        await watch.close();
      }
    }
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
    await etcd.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(etcd.dataDir, { recursive: true, force: true });
  }
  const sorted = [...times].sort((x, y) => x - y);
  const phase = (k: 'expiry' | 'elected' | 'firstAck'): number => median(phases.map((p) => p[k]).sort((x, y) => x - y));
  const summary = {
    runs: times.length,
    ttlMs: ttlSeconds * 1000,
    medianMs: median(sorted),
    maxMs: sorted[sorted.length - 1],
    minMs: sorted[0],
    medianPhasesMs: { leaseExpirySeen: phase('expiry'), electedAndPromoted: phase('elected'), firstAck: phase('firstAck') },
    host: os.hostname(),
  };
  process.stdout.write(
    `failover SIGKILL -> first ack of the new primary over ${summary.runs} runs, TTL ${summary.ttlMs} ms: median ${summary.medianMs.toFixed(0)} ms, min ${summary.minMs.toFixed(0)} ms, max ${summary.maxMs.toFixed(0)} ms\n${JSON.stringify(summary)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`failover bench failed: ${String(err)}\n`);
    cleanupAll();
    process.exit(1);
  },
);
