/**
 * Baseline 3, libpmem2 (Debian's libpmem2-dev) as the field's reference: a small C harness
 * (libpmem2/pmem2-bench.c) compiled at run time into a temp dir, run once per granularity on the
 * same ranges: page granularity on the work disk, cache-line forced with PMEM2_FORCE_GRANULARITY
 * on /dev/shm. Installs libpmem2-dev with apt-get when it is missing. After libpmem2's own rows
 * (memcpy + flush per range) the harness stays up and serves the libpmem2 side of G5's
 * like-for-like pair, slice by slice, taking turns with the native writer (bench/like-for-like.ts).
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { SLOT_BYTES } from '../src/storage/pool-header';
import { SHM_DIR, removeDir, tempDir, trackChild } from './cleanup';
import { BenchConfig } from './config';
import { LikeForLikeResult, cycleRangesCap, runLikeForLike } from './like-for-like';
import { FRAMING_BYTES, SLOT_STRIDE_BYTES } from './local-floor';
import { LatencySummary } from './stats';

const SOURCE = path.join(__dirname, '..', '..', 'bench', 'libpmem2', 'pmem2-bench.c');
const PACKAGE = 'libpmem2-dev';
const APT_TIMEOUT_MS = 300_000;

interface Pmem2Qd1 {
  ops: number;
  seconds: number;
  opsPerSec: number;
  latency: LatencySummary;
}

export interface Pmem2SizeResult {
  group: { ops: number; seconds: number; opsPerSec: number; bytesPerSec: number; rangesPerGroup: number };
  qd1: Pmem2Qd1;
}

/** The harness's latency fields of one cell. */
interface RawLatency {
  ops: number;
  seconds: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  meanNs: number;
  maxNs: number;
}

function qd1Of(r: RawLatency): Pmem2Qd1 {
  return {
    ops: r.ops,
    seconds: r.seconds,
    opsPerSec: r.ops / r.seconds,
    latency: {
      count: r.ops,
      p50Us: r.p50Ns / 1000,
      p99Us: r.p99Ns / 1000,
      p999Us: r.p999Ns / 1000,
      meanUs: r.meanNs / 1000,
      maxUs: r.maxNs / 1000,
    },
  };
}

export interface Pmem2Result {
  /** Effective granularity pmem2 reported for the mapping. */
  granularity: string;
  forced: 'CACHE_LINE' | 'PAGE';
  dir: string;
  sizes: Record<number, Pmem2SizeResult>;
  /** G5's pair at this granularity: the native writer timed in C++ against the same work in libpmem2. */
  likeForLike: LikeForLikeResult;
}

export type Pmem2Outcome = { available: true; results: Pmem2Result[]; version: string } | { available: false; reason: string };

function installedVersion(): string | undefined {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status} ${Version}', PACKAGE], { encoding: 'utf8' });
  const m = /install ok installed (\S+)/.exec(r.stdout ?? '');
  return m === null ? undefined : m[1];
}

/** Installs libpmem2-dev with apt-get (update first) if it is not installed; returns its version. */
function ensureInstalled(log: (line: string) => void): string {
  const have = installedVersion();
  if (have !== undefined) return have;
  log(`installing ${PACKAGE} with apt-get (not installed yet)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'pipe'], env, timeout: APT_TIMEOUT_MS });
  execFileSync('apt-get', ['install', '-y', '-qq', PACKAGE], { stdio: ['ignore', 'ignore', 'pipe'], env, timeout: APT_TIMEOUT_MS });
  const now = installedVersion();
  if (now === undefined) throw new Error(`${PACKAGE} is still not installed after apt-get install`);
  return now;
}

/** Most a harness line may take beyond the time it was asked to run (compile-free; a slow disk's sync included). */
const LINE_SLACK_MS = 60_000;

/** The harness's stdout, line by line, each awaited with a time bound; rejects with its stderr once it has exited. */
function lineReader(child: ChildProcess): (timeoutMs: number) => Promise<string> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return async (timeoutMs) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`pmem2-bench gave no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const next = await Promise.race([lines.next(), timeout]);
      if (next.done === true) throw new Error(`pmem2-bench ended early: ${stderr.trim() || `exit ${child.exitCode ?? child.signalCode}`}`);
      return next.value;
    } finally {
      clearTimeout(timer);
    }
  };
}

async function runHarness(binary: string, forced: 'CACHE_LINE' | 'PAGE', config: BenchConfig): Promise<Pmem2Result> {
  const dir = tempDir(`pmem2-${forced.toLowerCase()}`, forced === 'CACHE_LINE' ? SHM_DIR : undefined);
  const args = [
    path.join(dir, 'pmem2.pool'),
    String(config.poolBytes),
    String(config.cellMs),
    String(config.cellMaxOps),
    String(config.warmupMs),
    String(config.groupBytes),
    String(cycleRangesCap(config)),
    String(SLOT_BYTES),
    String(SLOT_STRIDE_BYTES),
    String(FRAMING_BYTES),
    ...config.sizes.map(String),
  ];
  const child = spawn(binary, args, { env: { ...process.env, PMEM2_FORCE_GRANULARITY: forced }, stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(child);
  const nextLine = lineReader(child);
  try {
    const sizes: Record<number, Pmem2SizeResult> = {};
    let granularity = 'unknown';
    const rowMs = LINE_SLACK_MS + 4 * (config.cellMs + config.warmupMs);
    for (let i = 0; i < config.sizes.length; i++) {
      const r = JSON.parse(await nextLine(rowMs)) as {
        size: number;
        granularity: string;
        group: { ops: number; seconds: number; rangesPerGroup: number };
        qd1: RawLatency;
      };
      granularity = r.granularity;
      sizes[r.size] = {
        group: { ...r.group, opsPerSec: r.group.ops / r.group.seconds, bytesPerSec: (r.group.ops * r.size) / r.group.seconds },
        qd1: qd1Of(r.qd1),
      };
    }
    const ask = async (command: string, ms: number): Promise<string> => {
      child.stdin!.write(`${command}\n`);
      return nextLine(LINE_SLACK_MS + ms);
    };
    const likeForLike = await runLikeForLike(config, forced === 'CACHE_LINE' ? 'cache-line' : 'page', {
      slice: async (kind, size, ms, maxBatches) =>
        JSON.parse(await ask(`${kind} ${size} ${ms} ${maxBatches}`, ms)) as { batches: number; seconds: number },
      latency: async () => qd1Of(JSON.parse(await ask('latency', 0)) as RawLatency).latency,
    });
    return { granularity, forced, dir: path.dirname(dir), sizes, likeForLike };
  } finally {
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    removeDir(dir);
  }
}

export async function runLibpmem2(config: BenchConfig, log: (line: string) => void): Promise<Pmem2Outcome> {
  let version: string;
  try {
    version = ensureInstalled(log);
  } catch (err) {
    return { available: false, reason: `cannot install ${PACKAGE}: ${(err as Error).message}` };
  }
  const build = tempDir('pmem2-build');
  try {
    const binary = path.join(build, 'pmem2-bench');
    try {
      execFileSync('cc', ['-O2', '-o', binary, SOURCE, '-lpmem2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      return { available: false, reason: `cannot compile ${SOURCE}: ${(err as Error).message}` };
    }
    if (!fs.existsSync(binary)) return { available: false, reason: 'compiler produced no binary' };
    return {
      available: true,
      version,
      results: [await runHarness(binary, 'CACHE_LINE', config), await runHarness(binary, 'PAGE', config)],
    };
  } finally {
    removeDir(build);
  }
}
