/**
 * The two measuring loops, each bounded in time and in count: queue depth 1 (latency of each
 * operation, awaited one after another) and pipelined (throughput with many operations in flight).
 */
import { LatencySummary, Samples } from './stats';

export interface Bounds {
  /** Stop issuing after this many operations. */
  maxOps: number;
  /** Stop issuing after this long (ms); the wait for what is in flight comes on top. */
  maxMs: number;
  /** Unmeasured operations first (JIT, page faults of the first touches), bounded by both. */
  warmupOps?: number;
  warmupMs?: number;
}

export interface Qd1Result {
  ops: number;
  seconds: number;
  opsPerSec: number;
  latency: LatencySummary;
}

export interface PipelinedResult {
  ops: number;
  bytes: number;
  /** From the first issue to the last completion (the drain after the bound included). */
  seconds: number;
  opsPerSec: number;
  bytesPerSec: number;
}

const now = (): bigint => process.hrtime.bigint();

/** Awaits `op` once at a time; records each one's latency. */
export async function runQd1(op: () => Promise<unknown>, bounds: Bounds): Promise<Qd1Result> {
  const warmEnd = Date.now() + (bounds.warmupMs ?? 0);
  for (let i = 0; i < (bounds.warmupOps ?? 0) && Date.now() < warmEnd; i++) await op();
  const samples = new Samples(bounds.maxOps);
  const deadline = Date.now() + bounds.maxMs;
  const started = now();
  while (!samples.full && Date.now() < deadline) {
    const t0 = now();
    await op();
    samples.add(Number(now() - t0));
  }
  const seconds = Number(now() - started) / 1e9;
  return { ops: samples.length, seconds, opsPerSec: samples.length / seconds, latency: samples.summary() };
}

export interface PipelineOptions extends Bounds {
  /** Bytes each operation moves. */
  bytesPerOp: number;
  /** Most operations in flight at once. */
  maxInflightOps: number;
}

/** Most operations in flight during the warm-up, so its drain stays short. */
const WARMUP_DEPTH = 256;

/**
 * Keeps up to `maxInflightOps` operations of `issue` in flight until a bound is reached, then waits
 * for all of them. Throughput is every completed operation over the whole time, drain included:
 * with thousands in flight and cumulative acks, completions come in bursts, and only the total
 * is unbiased. Rejects with the first failure.
 */
export async function runPipelined(issue: () => Promise<unknown>, options: PipelineOptions): Promise<PipelinedResult> {
  if ((options.warmupOps ?? 0) > 0 && (options.warmupMs ?? 0) > 0) {
    await pipeline(issue, Math.min(options.maxInflightOps, WARMUP_DEPTH), options.warmupOps!, options.warmupMs!);
  }
  const started = now();
  const ops = await pipeline(issue, options.maxInflightOps, options.maxOps, options.maxMs);
  const seconds = Number(now() - started) / 1e9;
  const bytes = ops * options.bytesPerOp;
  return { ops, bytes, seconds, opsPerSec: ops / seconds, bytesPerSec: bytes / seconds };
}

function pipeline(issue: () => Promise<unknown>, depth: number, maxOps: number, maxMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const deadline = Date.now() + maxMs;
    let issued = 0;
    let done = 0;
    let inflight = 0;
    let failed = false;
    let stopped = false;
    const fill = (): void => {
      if (!stopped && (issued >= maxOps || Date.now() >= deadline)) stopped = true;
      while (!stopped && !failed && inflight < depth) {
        issued++;
        inflight++;
        issue().then(settle, (err: unknown) => {
          if (failed) return;
          failed = true;
          reject(err);
        });
        if (issued >= maxOps) stopped = true;
        // Look at the clock every 64 issues, not every one.
        if ((issued & 63) === 0 && Date.now() >= deadline) stopped = true;
      }
      if (stopped && inflight === 0 && !failed) resolve(done);
    };
    const settle = (): void => {
      inflight--;
      done++;
      fill();
    };
    fill();
  });
}
