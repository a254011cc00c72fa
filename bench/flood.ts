/**
 * The memory flood (G7): a page target on the work disk (durability is slower than the network,
 * so its in-flight limit is what holds memory back) takes 1 MiB persists for `floodMs` while the
 * application keeps two windows' worth outstanding. Samples the target's VmRSS / RssAnon and the
 * initiator's RSS, heap and external memory every 100 ms; reports peaks against the baseline
 * before the flood and against the configured limits.
 */
import * as crypto from 'crypto';
import { RemotePool } from '../src/initiator/remote-pool';
import { BenchConfig } from './config';
import { PipelinedResult, runPipelined } from './loops';
import { RandomOffsets } from './offsets';
import { MemoryPeak, MemorySampler, processMemory } from './proc';
import { BenchTarget } from './targets';

export interface FloodResult {
  granularity: 'page';
  rangeBytes: number;
  seconds: number;
  targetMaxInflightBytes: number;
  initiatorWindowBytes: number;
  appOutstandingBytes: number;
  throughput: PipelinedResult;
  targetBefore: { vmRssBytes: number; rssAnonBytes: number };
  targetPeak: MemoryPeak;
  initiatorBefore: NodeJS.MemoryUsage;
  initiatorPeak: MemoryPeak;
}

export async function runFlood(config: BenchConfig): Promise<FloodResult> {
  const target = await BenchTarget.start('page', config.targetInflightBytes, 'flood', false);
  try {
    const pool = await RemotePool.create(target.address, 'flood', { size: config.poolBytes, maxInflightBytes: config.windowBytes });
    try {
      const size = config.floodRangeBytes;
      const data = crypto.randomBytes(size);
      const offsets = new RandomOffsets(config.poolBytes, size, 0xf100d);
      await pool.persist(0, data);
      global.gc?.();
      const targetBefore = processMemory(target.pid);
      const initiatorBefore = process.memoryUsage();
      const targetSampler = new MemorySampler(target.pid);
      const initiatorSampler = new MemorySampler();
      const outstanding = Math.max(1, Math.floor((2 * config.windowBytes) / size));
      const throughput = await runPipelined(() => pool.persist(offsets.next(), data), {
        bytesPerOp: size,
        maxInflightOps: outstanding,
        maxOps: Number.MAX_SAFE_INTEGER,
        maxMs: config.floodMs,
      });
      return {
        granularity: 'page',
        rangeBytes: size,
        seconds: throughput.seconds,
        targetMaxInflightBytes: config.targetInflightBytes,
        initiatorWindowBytes: config.windowBytes,
        appOutstandingBytes: outstanding * size,
        throughput,
        targetBefore,
        targetPeak: targetSampler.stop(),
        initiatorBefore,
        initiatorPeak: initiatorSampler.stop(),
      };
    } finally {
      await pool.close();
    }
  } finally {
    await target.stop();
  }
}
