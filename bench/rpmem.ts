/**
 * rpmem itself, one target: RemotePool persists of each size at random offsets in one pool,
 * pipelined (throughput, with CPU per durable GB on both sides) and at queue depth 1 (latency),
 * for a cache-line target (/dev/shm) and a page target (work disk). The pool is written once
 * through persist before the cells, so the target's mapping is faulted in.
 */
import * as crypto from 'crypto';
import { Granularity } from '../src/storage/native';
import { RemotePool } from '../src/initiator/remote-pool';
import { BenchConfig } from './config';
import { PipelinedResult, Qd1Result, runPipelined, runQd1 } from './loops';
import { RandomOffsets } from './offsets';
import { MemoryPeak, MemorySampler, processCpuSeconds, selfCpuSeconds } from './proc';
import { BenchTarget } from './targets';

export interface CpuPerGb {
  initiatorSeconds: number;
  targetSeconds: number;
  /** CPU seconds per GB (1e9 bytes) made durable. */
  initiatorSecPerGb: number;
  targetSecPerGb: number;
}

export interface RemoteSizeResult {
  pipelined: PipelinedResult & { cpu: CpuPerGb; maxInflightOps: number };
  qd1: Qd1Result;
}

export interface RemoteResult {
  granularity: Granularity;
  poolDir: string;
  poolBytes: number;
  sizes: Record<number, RemoteSizeResult>;
  initiatorMemory: MemoryPeak;
  targetMemory: MemoryPeak;
}

/**
 * Outstanding persists the pipelined driver keeps: 1.25 windows' worth (so the initiator always has
 * ranges queued beyond its window), at most maxInflightOps.
 */
export function pipelineDepth(config: BenchConfig, rangeBytes: number): number {
  return Math.max(1, Math.min(config.maxInflightOps, Math.ceil((1.25 * config.windowBytes) / rangeBytes)));
}

/** Runs `work` while measuring CPU of this process and of `targetPids`; returns CPU per GB of its `bytes`. */
export async function withCpu<T extends { bytes: number }>(targetPids: number[], work: () => Promise<T>): Promise<T & { cpu: CpuPerGb }> {
  const self0 = selfCpuSeconds();
  const targets0 = targetPids.map(processCpuSeconds);
  const result = await work();
  const initiatorSeconds = selfCpuSeconds() - self0;
  const targetSeconds = targetPids.reduce((sum, pid, i) => sum + processCpuSeconds(pid) - targets0[i], 0);
  const gb = result.bytes / 1e9;
  return {
    ...result,
    cpu: { initiatorSeconds, targetSeconds, initiatorSecPerGb: initiatorSeconds / gb, targetSecPerGb: targetSeconds / gb },
  };
}

const PREFILL_RANGE_BYTES = 1024 * 1024;
const PREFILL_DEPTH = 32;

/**
 * Writes every byte of the pool once through `persist` (1 MiB ranges, sequential, 32 in flight),
 * unmeasured: the target's mapping is faulted in and the initiator's JIT warm before any cell.
 */
export async function prefillRemote(persist: (offset: number, data: Buffer) => Promise<unknown>, poolBytes: number): Promise<void> {
  const chunk = Buffer.alloc(PREFILL_RANGE_BYTES);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < poolBytes) {
      const at = next;
      next += chunk.length;
      await persist(at, at + chunk.length <= poolBytes ? chunk : chunk.subarray(0, poolBytes - at));
    }
  };
  await Promise.all(Array.from({ length: PREFILL_DEPTH }, worker));
}

export async function runRemote(config: BenchConfig, granularity: Granularity): Promise<RemoteResult> {
  const target = await BenchTarget.start(granularity, config.targetInflightBytes);
  const initiatorMemory = new MemorySampler();
  const targetMemory = new MemorySampler(target.pid);
  try {
    const pool = await RemotePool.create(target.address, 'bench', {
      ...target.connect,
      size: config.poolBytes,
      maxInflightBytes: config.windowBytes,
    });
    const sizes: Record<number, RemoteSizeResult> = {};
    try {
      if (pool.granularity !== granularity) throw new Error(`target reports ${pool.granularity}, expected ${granularity}`);
      await prefillRemote((offset, data) => pool.persist(offset, data), config.poolBytes);
      for (const size of config.sizes) {
        const data = crypto.randomBytes(size);
        const offsets = new RandomOffsets(config.poolBytes, size, 0x1234 + size);
        const depth = pipelineDepth(config, size);
        const pipelined = await withCpu([target.pid], () =>
          runPipelined(() => pool.persist(offsets.next(), data), {
            bytesPerOp: size,
            maxInflightOps: depth,
            maxOps: config.cellMaxOps,
            maxMs: config.cellMs,
            warmupOps: 20_000,
            warmupMs: config.warmupMs,
          }),
        );
        const qd1 = await runQd1(() => pool.persist(offsets.next(), data), {
          maxOps: config.cellMaxOps,
          maxMs: config.cellMs,
          warmupOps: 2000,
          warmupMs: config.warmupMs,
        });
        sizes[size] = { pipelined: { ...pipelined, maxInflightOps: depth }, qd1 };
      }
    } finally {
      await pool.close();
    }
    return {
      granularity,
      poolDir: target.poolDir,
      poolBytes: config.poolBytes,
      sizes,
      initiatorMemory: initiatorMemory.stop(),
      targetMemory: targetMemory.stop(),
    };
  } finally {
    initiatorMemory.stop();
    targetMemory.stop();
    await target.stop();
  }
}
