/**
 * Where the time goes in rpmem's pipelined persist path: runs rpmemd (cache-line, /dev/shm) and an
 * initiator driver (profile-driver.ts) as two processes, both under `node --cpu-prof`, for a fixed
 * time, then summarizes each side's profile (top self-time functions, time per code area).
 * rpmemd is spawned here rather than through DaemonProcess, which takes no node flags.
 *
 *   node dist/bench/profile.js [--seconds 10] [--size 4096] [--granularity cache-line|page]
 *        [--pool-mib 256] [--max-message-bytes N] [--daemon-require FILE] [--no-profile]
 *        [--replicas N] [--replicated] [--qd1] [--keep DIR] [--json FILE]
 *
 * --replicas N (N > 1) drives a ReplicatedPool (ack 'all') over N cache-line targets; only the
 * first target is profiled. --replicated drives a ReplicatedPool with a single replica too.
 * --qd1 drives a RemotePool at queue depth 1 (where a QD1 round trip's CPU goes, on both sides).
 *
 * --daemon-require preloads a module into rpmemd (e.g. dist/bench/experiments/http2-window-preload.js)
 * --no-profile runs without --cpu-prof (the throughput without the profiler's overhead)
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { SHM_DIR, cleanupAll, installCleanup, removeDir, tempDir, trackChild } from './cleanup';
import { ProfileSummary, renderProfile, summarizeProfile } from './cpu-profile';
import { processCpuSeconds } from './proc';

const RPMEMD_MAIN = path.join(__dirname, '..', 'src', 'target', 'main.js');
const DRIVER = path.join(__dirname, 'profile-driver.js');
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 20_000;

function waitExit(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function startDaemon(nodeArgs: string[], poolDir: string, granularity: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      RPMEMD_MAIN,
      '--pool-dir',
      poolDir,
      '--listen',
      '127.0.0.1:0',
      '--granularity',
      granularity,
      '--log-level',
      'warn',
      '--insecure',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  trackChild(child);
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('rpmemd did not start')), START_TIMEOUT_MS);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      out += t;
      const m = /rpmemd listening on (\S+)\n/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`rpmemd exited (${code}) before listening`)));
  });
  return { child, address };
}

function newestProfile(dir: string): string | undefined {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  return files.length === 0 ? undefined : path.join(dir, files.sort().pop()!);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      size: { type: 'string', default: '4096' },
      granularity: { type: 'string', default: 'cache-line' },
      'pool-mib': { type: 'string', default: '256' },
      'max-message-bytes': { type: 'string' },
      'daemon-require': { type: 'string' },
      'no-profile': { type: 'boolean', default: false },
      keep: { type: 'string' },
      replicas: { type: 'string', default: '1' },
      replicated: { type: 'boolean', default: false },
      qd1: { type: 'boolean', default: false },
      json: { type: 'string' },
      top: { type: 'string', default: '20' },
    },
  });
  installCleanup();
  const profiling = values['no-profile'] !== true;
  const granularity = values.granularity!;
  const poolDir = tempDir('profile-pools', granularity === 'cache-line' ? SHM_DIR : undefined);
  const profDir = values.keep ?? tempDir('profiles');
  fs.mkdirSync(path.join(profDir, 'rpmemd'), { recursive: true });
  fs.mkdirSync(path.join(profDir, 'initiator'), { recursive: true });
  const daemonNodeArgs = [
    ...(profiling ? ['--cpu-prof', '--cpu-prof-dir', path.join(profDir, 'rpmemd')] : []),
    ...(values['daemon-require'] ? ['-r', path.resolve(values['daemon-require'])] : []),
  ];
  const { child: daemon, address } = await startDaemon(daemonNodeArgs, poolDir, granularity);
  const others: ChildProcess[] = [];
  const otherDirs: string[] = [];
  const addresses = [address];
  try {
    for (let i = 1; i < Number(values.replicas); i++) {
      otherDirs.push(tempDir(`profile-pools${i}`, granularity === 'cache-line' ? SHM_DIR : undefined));
      const extra = await startDaemon(
        values['daemon-require'] ? ['-r', path.resolve(values['daemon-require'])] : [],
        otherDirs[i - 1],
        granularity,
      );
      others.push(extra.child);
      addresses.push(extra.address);
    }
    let daemonCpu0 = processCpuSeconds(daemon.pid!);
    const driver = spawn(
      process.execPath,
      [
        ...(profiling ? ['--cpu-prof', '--cpu-prof-dir', path.join(profDir, 'initiator')] : []),
        DRIVER,
        addresses.join(','),
        values.seconds!,
        values.size!,
        String(Number(values['pool-mib']) * 1024 * 1024),
        values['max-message-bytes'] ?? '',
        values.replicated === true || Number(values.replicas) > 1 ? 'replicated' : values.qd1 === true ? 'remote-qd1' : 'remote',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    trackChild(driver);
    let out = '';
    driver.stdout!.setEncoding('utf8').on('data', (t: string) => {
      if (!out.includes('measuring\n') && (out + t).includes('measuring\n')) daemonCpu0 = processCpuSeconds(daemon.pid!);
      out += t;
    });
    const code = await waitExit(driver, (Number(values.seconds) + 120) * 1000);
    const daemonCpu = processCpuSeconds(daemon.pid!) - daemonCpu0;
    if (code !== 0) throw new Error(`driver exited ${code}`);
    const run = JSON.parse(out.trim().split('\n').pop()!) as {
      opsPerSec: number;
      bytesPerSec: number;
      seconds: number;
      initiatorCpuSeconds: number;
      totalSeconds: number;
    };
    daemon.kill('SIGTERM');
    await waitExit(daemon, STOP_TIMEOUT_MS);
    const summary: { run: typeof run; daemonCpuSeconds: number; loadAvg: number; initiator?: ProfileSummary; rpmemd?: ProfileSummary } = {
      run,
      daemonCpuSeconds: daemonCpu,
      loadAvg: os.loadavg()[0],
    };
    const ops = run.opsPerSec * run.seconds;
    process.stdout.write(
      `${values.size} B pipelined, ${granularity}${values['daemon-require'] ? `, rpmemd -r ${path.basename(values['daemon-require'])}` : ''}` +
        `${values['max-message-bytes'] ? `, maxMessageBytes ${values['max-message-bytes']}` : ''}` +
        `${values.replicated === true || Number(values.replicas) > 1 ? `, ReplicatedPool x${values.replicas} ack all (rpmemd CPU: first target only)` : ''}${profiling ? ' (under --cpu-prof)' : ''}: ` +
        `${Math.round(run.opsPerSec)} ranges/s, ${(run.bytesPerSec / 1e6).toFixed(1)} MB/s over ${run.seconds.toFixed(1)} s; ` +
        `CPU per range: initiator ${((1e6 * run.initiatorCpuSeconds) / ops).toFixed(1)} µs, rpmemd ${((1e6 * daemonCpu) / ops).toFixed(1)} µs; ` +
        `load ${os.loadavg()[0].toFixed(1)}\n`,
    );
    if (profiling) {
      const top = Number(values.top);
      const ini = newestProfile(path.join(profDir, 'initiator'));
      const tgt = newestProfile(path.join(profDir, 'rpmemd'));
      if (ini) summary.initiator = summarizeProfile(ini, top);
      if (tgt) summary.rpmemd = summarizeProfile(tgt, top);
      if (summary.initiator) process.stdout.write('\n' + renderProfile('initiator', summary.initiator) + '\n');
      if (summary.rpmemd) process.stdout.write('\n' + renderProfile('rpmemd', summary.rpmemd) + '\n');
      if (values.keep) process.stdout.write(`\nprofiles kept in ${profDir}\n`);
    }
    if (values.json) fs.writeFileSync(values.json, JSON.stringify(summary, null, 2) + '\n');
  } finally {
    for (const other of others) {
      other.kill('SIGTERM');
      await waitExit(other, STOP_TIMEOUT_MS);
    }
    for (const dir of otherDirs) removeDir(dir);
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      await waitExit(daemon, STOP_TIMEOUT_MS);
    }
    removeDir(poolDir);
    if (values.keep === undefined) removeDir(profDir);
  }
}

main().then(
  () => {
    cleanupAll();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`profile failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    cleanupAll();
    process.exit(1);
  },
);
