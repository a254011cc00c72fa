/**
 * Replication fan-out (G6): a ReplicatedPool (local pool on /dev/shm, cache-line) with one replica,
 * then with three (each its own cache-line rpmemd), write policy 'all', pipelined 4 KiB persists
 * at random offsets (after one unmeasured pass over the whole pool); throughput and CPU per durable GB on the initiator and on the targets (summed).
 */
import * as path from 'path';
import { ReplicatedPool } from '../src/initiator/replicated-pool';
import { SHM_DIR, removeDir, tempDir } from './cleanup';
import { BenchConfig } from './config';
import { PipelinedResult, runPipelined } from './loops';
import { RandomOffsets } from './offsets';
import { CpuPerGb, pipelineDepth, prefillRemote, withCpu } from './rpmem';
import { BenchTarget } from './targets';

export const REPLICATION_RANGE_BYTES = 4096;
const REPLICAS = 3;

export interface ReplicationCase {
  replicas: number;
  ack: 'all';
  result: PipelinedResult & { cpu: CpuPerGb; maxInflightOps: number };
  /** Seconds ReplicatedPool.open took (replica create, first compare, up). */
  openSeconds: number;
}

export interface ReplicationResult {
  rangeBytes: number;
  poolBytes: number;
  one: ReplicationCase;
  three: ReplicationCase;
}

async function runCase(config: BenchConfig, targets: BenchTarget[], name: string): Promise<ReplicationCase> {
  const dir = tempDir(`primary-${name}`, SHM_DIR);
  try {
    const opened = process.hrtime.bigint();
    const rp = await ReplicatedPool.open(path.join(dir, 'primary.pool'), {
      replicas: targets.map((t) => `${t.address}/${name}`),
      ...targets[0].connect,
      ack: 'all',
      create: { size: config.replicaPoolBytes },
      granularity: 'cache-line',
      maxInflightBytes: config.windowBytes,
      openWaitMs: 60_000,
      callTimeoutMs: 30_000,
    });
    const openSeconds = Number(process.hrtime.bigint() - opened) / 1e9;
    try {
      const down = rp.status().filter((s) => s.state !== 'up');
      if (down.length > 0) throw new Error(`replicas not up after open: ${JSON.stringify(down)}`);
      await prefillRemote((offset, data) => rp.persist(offset, data.length), config.replicaPoolBytes);
      const offsets = new RandomOffsets(config.replicaPoolBytes, REPLICATION_RANGE_BYTES, 0x5151);
      const depth = pipelineDepth(config, REPLICATION_RANGE_BYTES);
      const result = await withCpu(
        targets.map((t) => t.pid),
        () =>
          runPipelined(() => rp.persist(offsets.next(), REPLICATION_RANGE_BYTES), {
            bytesPerOp: REPLICATION_RANGE_BYTES,
            maxInflightOps: depth,
            maxOps: config.cellMaxOps,
            maxMs: config.replicationMs,
            warmupOps: 20_000,
            warmupMs: config.warmupMs,
          }),
      );
      return { replicas: targets.length, ack: 'all', result: { ...result, maxInflightOps: depth }, openSeconds };
    } finally {
      await rp.close();
    }
  } finally {
    removeDir(dir);
  }
}

export async function runReplication(config: BenchConfig): Promise<ReplicationResult> {
  const targets: BenchTarget[] = [];
  try {
    for (let i = 0; i < REPLICAS; i++) targets.push(await BenchTarget.start('cache-line', config.targetInflightBytes, `replica${i}`));
    const one = await runCase(config, targets.slice(0, 1), 'one');
    const three = await runCase(config, targets, 'three');
    return { rangeBytes: REPLICATION_RANGE_BYTES, poolBytes: config.replicaPoolBytes, one, three };
  } finally {
    for (const t of targets) await t.stop();
  }
}
