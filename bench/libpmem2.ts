/**
 * Baseline 3, libpmem2 (Debian's libpmem2-dev) as the field's reference: a small C harness
 * (libpmem2/pmem2-bench.c) compiled at run time into a temp dir, run once per granularity on the
 * same ranges: page granularity on the work disk, cache-line forced with PMEM2_FORCE_GRANULARITY
 * on /dev/shm. Installs libpmem2-dev with apt-get when it is missing.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { SHM_DIR, removeDir, tempDir } from './cleanup';
import { BenchConfig } from './config';
import { LatencySummary } from './stats';

const SOURCE = path.join(__dirname, '..', '..', 'bench', 'libpmem2', 'pmem2-bench.c');
const PACKAGE = 'libpmem2-dev';
const APT_TIMEOUT_MS = 300_000;

export interface Pmem2SizeResult {
  group: { ops: number; seconds: number; opsPerSec: number; bytesPerSec: number; rangesPerGroup: number };
  qd1: { ops: number; seconds: number; opsPerSec: number; latency: LatencySummary };
}

export interface Pmem2Result {
  /** Effective granularity pmem2 reported for the mapping. */
  granularity: string;
  forced: 'CACHE_LINE' | 'PAGE';
  dir: string;
  sizes: Record<number, Pmem2SizeResult>;
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

function runHarness(binary: string, forced: 'CACHE_LINE' | 'PAGE', config: BenchConfig): Pmem2Result {
  const dir = tempDir(`pmem2-${forced.toLowerCase()}`, forced === 'CACHE_LINE' ? SHM_DIR : undefined);
  try {
    const args = [
      path.join(dir, 'pmem2.pool'),
      String(config.poolBytes),
      String(config.cellMs),
      String(config.cellMaxOps),
      String(config.warmupMs),
      String(config.groupBytes),
      ...config.sizes.map(String),
    ];
    const budgetMs = 60_000 + config.sizes.length * 4 * (config.cellMs + config.warmupMs) * 3;
    const out = execFileSync(binary, args, {
      encoding: 'utf8',
      env: { ...process.env, PMEM2_FORCE_GRANULARITY: forced },
      timeout: budgetMs,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const sizes: Record<number, Pmem2SizeResult> = {};
    let granularity = 'unknown';
    for (const line of out.split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as {
        size: number;
        granularity: string;
        group: { ops: number; seconds: number; rangesPerGroup: number };
        qd1: { ops: number; seconds: number; p50Ns: number; p99Ns: number; p999Ns: number; meanNs: number; maxNs: number };
      };
      granularity = r.granularity;
      sizes[r.size] = {
        group: { ...r.group, opsPerSec: r.group.ops / r.group.seconds, bytesPerSec: (r.group.ops * r.size) / r.group.seconds },
        qd1: {
          ops: r.qd1.ops,
          seconds: r.qd1.seconds,
          opsPerSec: r.qd1.ops / r.qd1.seconds,
          latency: {
            count: r.qd1.ops,
            p50Us: r.qd1.p50Ns / 1000,
            p99Us: r.qd1.p99Ns / 1000,
            p999Us: r.qd1.p999Ns / 1000,
            meanUs: r.qd1.meanNs / 1000,
            maxUs: r.qd1.maxNs / 1000,
          },
        },
      };
    }
    return { granularity, forced, dir: path.dirname(dir), sizes };
  } finally {
    removeDir(dir);
  }
}

export function runLibpmem2(config: BenchConfig, log: (line: string) => void): Pmem2Outcome {
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
    return { available: true, version, results: [runHarness(binary, 'CACHE_LINE', config), runHarness(binary, 'PAGE', config)] };
  } finally {
    removeDir(build);
  }
}
