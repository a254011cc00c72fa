/**
 * `npm run bench`: measures the baselines and rpmem in one run, one after the other, prints one
 * table with absolute figures and the G1–G7 ratios, and writes every figure as JSON.
 *
 *   node dist/bench/main.js [--quick] [--json FILE] [--only SECTION,...]
 *
 * --quick    a run under 60 s (smaller pool, shorter cells, 5 s flood)
 * --json     where to write the results (default: bench-results.json in the system temp dir)
 * --only     run only these sections: tcp, grpc, local, libpmem2, rpmem, replication, flood
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { cleanupAll, installCleanup } from './cleanup';
import { benchConfig } from './config';
import { runFlood } from './flood';
import { computeGoals } from './goals';
import { CEILING_WINDOWS, runGrpcCeiling } from './grpc-ceiling';
import { runLibpmem2 } from './libpmem2';
import { runLocalFloor } from './local-floor';
import { runReplication } from './replication';
import { renderReport } from './report';
import { BenchResults } from './results';
import { runRemote } from './rpmem';
import { runTcpFloor } from './tcp-floor';

const SECTIONS = ['tcp', 'grpc', 'local', 'libpmem2', 'rpmem', 'replication', 'flood'] as const;
type Section = (typeof SECTIONS)[number];

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd: path.join(__dirname, '..', '..'),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: node dist/bench/main.js [--quick] [--json FILE] [--only tcp,grpc,local,libpmem2,rpmem,replication,flood]\n',
    );
    return;
  }
  const only = new Set<string>(values.only?.split(',').map((s) => s.trim()) ?? SECTIONS);
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s}`);
  const jsonFile = values.json ?? path.join(os.tmpdir(), 'bench-results.json');
  installCleanup();
  const config = benchConfig(values.quick === true);
  const started = Date.now();
  const results: BenchResults = {
    startedAt: new Date(started).toISOString(),
    seconds: 0,
    config,
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      kernel: os.release(),
      node: process.version,
      tmpdir: os.tmpdir(),
      commit: git(['describe', '--always', '--dirty']) || 'unknown',
      dirtyFiles: git(['status', '--porcelain', '--', 'src', 'native']).split('\n').filter(Boolean).length,
    },
    local: [],
    remote: [],
    goals: [],
    sections: [],
    errors: [],
  };
  const section = async (name: Section, label: string, work: () => Promise<void>): Promise<void> => {
    if (!only.has(name)) return;
    const t0 = Date.now();
    const loadBefore = os.loadavg()[0];
    log(`${label}... (load ${loadBefore.toFixed(1)})`);
    try {
      await work();
      log(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`${label} FAILED: ${message}`);
      results.errors.push({ section: label, message });
    }
    results.sections.push({ section: label, seconds: (Date.now() - t0) / 1000, loadBefore, loadAfter: os.loadavg()[0] });
  };

  await section('tcp', 'transport floor (TCP)', async () => {
    results.tcp = await runTcpFloor(config);
  });
  await section('grpc', 'grpc-js ceiling', async () => {
    results.grpcCeiling = await runGrpcCeiling(config, CEILING_WINDOWS);
  });
  await section('local', 'local floor cache-line', async () => {
    results.local.push(await runLocalFloor(config, 'cache-line'));
  });
  await section('local', 'local floor page', async () => {
    results.local.push(await runLocalFloor(config, 'page'));
  });
  await section('libpmem2', 'libpmem2', async () => {
    results.libpmem2 = await runLibpmem2(config, log);
  });
  await section('rpmem', 'rpmem cache-line', async () => {
    results.remote.push(await runRemote(config, 'cache-line'));
  });
  await section('rpmem', 'rpmem page', async () => {
    results.remote.push(await runRemote(config, 'page'));
  });
  await section('replication', 'replication 1 vs 3', async () => {
    results.replication = await runReplication(config);
  });
  await section('flood', `memory flood ${config.floodMs / 1000} s`, async () => {
    results.flood = await runFlood(config);
  });

  results.seconds = (Date.now() - started) / 1000;
  results.goals = computeGoals(results);
  const loads = results.sections.flatMap((s) => [s.loadBefore, s.loadAfter]);
  process.stdout.write(
    `rpmem bench (${config.quick ? 'quick' : 'full'}): ${results.host.cpus} x ${results.host.cpuModel}, Linux ${results.host.kernel}, Node ${results.host.node}, ` +
      `tree ${results.host.commit} (${results.host.dirtyFiles} files under src/ native/ modified), pool ${config.poolBytes / 2 ** 20} MiB, ${results.seconds.toFixed(0)} s, ` +
      `1-min load ${Math.min(...loads).toFixed(1)}..${Math.max(...loads).toFixed(1)} on ${results.host.cpus} CPUs\n\n`,
  );
  process.stdout.write(renderReport(results) + '\n');
  fs.writeFileSync(jsonFile, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`\nJSON: ${jsonFile}\n`);
}

main().then(
  () => {
    cleanupAll();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    cleanupAll();
    process.exit(1);
  },
);
