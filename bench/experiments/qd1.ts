/**
 * Experiment: rpmem's QD1 4 KiB cache-line ack latency against the bare grpc-js round trip
 * (grpc-ceiling.ts's sink at rpmemd's window), alternating rounds so load on a shared machine
 * hits both alike. Prints p50/p99 of each round and the ratios.
 *
 *   node dist/bench/experiments/qd1.js [ROUNDS] [MS_PER_CELL] [both|grpc|rpmem]
 *
 * One side only (grpc or rpmem) is for counting what a round trip costs, e.g. under `strace -f -c`.
 */
import * as crypto from 'crypto';
import { RemotePool } from '../../src/initiator/remote-pool';
import { TargetClient } from '../../src/initiator/target-client';
import { HTTP2_WINDOW_BYTES } from '../../src/target/http2-window';
import { startListening, stopListening } from '../child';
import { cleanupAll, installCleanup } from '../cleanup';
import { benchConfig } from '../config';
import { ceilingQd1 } from '../grpc-ceiling';
import { runQd1 } from '../loops';
import { CpuPerGb, prefillRemote, withCpu } from '../rpmem';
import { RandomOffsets } from '../offsets';
import { BenchTarget } from '../targets';

async function main(): Promise<void> {
  installCleanup();
  const rounds = Number(process.argv[2] ?? 3);
  const only = process.argv[4] ?? 'both';
  const config = { ...benchConfig(true), cellMs: Number(process.argv[3] ?? 1500), warmupMs: 300 };
  const sink = await startListening('grpc-sink.js', [String(HTTP2_WINDOW_BYTES)]);
  const client = new TargetClient(`127.0.0.1:${sink.port}`);
  const target = await BenchTarget.start('cache-line', config.targetInflightBytes);
  const poolBytes = 64 * 1024 * 1024;
  const pool = await RemotePool.create(target.address, 'qd1', { ...target.connect, size: poolBytes });
  // as the bench does: a first store into a page of the pool faults it in, which no round trip of the sink pays
  await prefillRemote((offset, data) => pool.persist(offset, data), poolBytes);
  const data = crypto.randomBytes(4096);
  const offsets = new RandomOffsets(poolBytes, 4096, 0x4d1);
  try {
    for (let i = 0; i < rounds; i++) {
      const skip = {
        ops: 0,
        seconds: 0,
        opsPerSec: 0,
        latency: { count: 0, p50Us: NaN, p99Us: NaN, p999Us: NaN, meanUs: NaN, maxUs: NaN },
        bytes: 1,
      };
      const g = await withCpu([sink.child.pid!], async () => {
        if (only === 'rpmem') return skip;
        const q = await ceilingQd1(client, config);
        return { ...q, bytes: q.ops * 1e9 };
      });
      const r = await withCpu([target.pid], async () => {
        if (only === 'grpc') return skip;
        const q = await runQd1(() => pool.persist(offsets.next(), data), {
          maxOps: config.cellMaxOps,
          maxMs: config.cellMs,
          warmupOps: 2000,
          warmupMs: config.warmupMs,
        });
        return { ...q, bytes: q.ops * 1e9 };
      });
      const f = (x: number): string => x.toFixed(1).padStart(6);
      // bytes = ops x 1e9, so CPU s/GB reads as CPU s per op: x 1e6 for µs (warm-ups included).
      const cpu = (c: CpuPerGb): string => `cpu/op ${f(c.initiatorSecPerGb * 1e6)} + ${f(c.targetSecPerGb * 1e6)} µs`;
      process.stdout.write(
        `round ${i}: grpc p50 ${f(g.latency.p50Us)} p99 ${f(g.latency.p99Us)} ${cpu(g.cpu)} | rpmem p50 ${f(r.latency.p50Us)} p99 ${f(r.latency.p99Us)} ${cpu(r.cpu)} | ratio p50 ${(r.latency.p50Us / g.latency.p50Us).toFixed(2)} p99 ${(r.latency.p99Us / g.latency.p99Us).toFixed(2)}\n`,
      );
    }
  } finally {
    await pool.close();
    client.close();
    await stopListening(sink);
    await target.stop();
  }
}

main().then(
  () => {
    cleanupAll();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    cleanupAll();
    process.exit(1);
  },
);
