/**
 * TestTarget: a real rpmemd process on a free loopback port with its own pool dir, that a test can
 * kill, pause, restart (on the same port and dir) and stop by PID.
 */
import * as path from 'path';
import { DaemonOptions, DaemonProcess, Exit } from '../../src/target/daemon-process';
import { sampleProc } from './fuzz-probe';
import { SHM_DIR, tempDir } from './setup';

export interface TestTargetOptions {
  granularity?: 'cache-line' | 'page';
  /** Loopback address to bind; default 127.0.0.1. */
  host?: string;
  args?: string[];
  tls?: DaemonOptions['tls'];
  /** Serve this directory instead of a fresh temporary one. */
  poolDir?: string;
  /** Keep all of the daemon's stderr for {@link TestTarget.fullLog}. Default false. */
  keepStderr?: boolean;
}

const running = new Set<TestTarget>();

export class TestTarget {
  private constructor(
    private daemon: DaemonProcess,
    readonly poolDir: string,
    private readonly options: DaemonOptions,
  ) {
    running.add(this);
  }

  /** Starts rpmemd: cache-line granularity on /dev/shm by default, page on the work disk. */
  static async start(options: TestTargetOptions = {}): Promise<TestTarget> {
    const granularity = options.granularity ?? 'cache-line';
    const poolDir = options.poolDir ?? tempDir('target', granularity === 'cache-line' ? SHM_DIR : undefined);
    const daemonOptions: DaemonOptions = {
      poolDir,
      granularity,
      listen: `${options.host ?? '127.0.0.1'}:0`,
      args: ['--log-level', 'warn', ...(options.args ?? [])],
      tls: options.tls,
      keepStderr: options.keepStderr,
    };
    return new TestTarget(await DaemonProcess.start(daemonOptions), poolDir, daemonOptions);
  }

  get address(): string {
    return this.daemon.address;
  }

  get pid(): number {
    return this.daemon.pid;
  }

  /** The daemon's resident set size in bytes, from /proc. */
  rssBytes(): number {
    const sample = sampleProc(this.pid);
    if (sample === undefined) throw new Error(`rpmemd (pid ${this.pid}) is not running`);
    return sample.rss;
  }

  /** True while the daemon process has not exited. */
  get running(): boolean {
    return this.daemon.running;
  }

  get exited(): Promise<Exit> {
    return this.daemon.exited;
  }

  get log(): string[] {
    return this.daemon.stderrTail;
  }

  /** All of stderr since the last (re)start; throws unless started with `keepStderr`. */
  get fullLog(): string {
    const all = this.daemon.stderrAll;
    if (all === undefined) throw new Error('TestTarget.fullLog needs keepStderr: true');
    return all;
  }

  poolPath(name: string): string {
    return path.join(this.poolDir, name);
  }

  signal(signal: NodeJS.Signals): void {
    this.daemon.signal(signal);
  }

  kill(): Promise<Exit> {
    return this.daemon.kill();
  }

  stop(): Promise<Exit> {
    running.delete(this);
    return this.daemon.stop();
  }

  /** Starts a new daemon on the same address and pool dir (after kill or stop). */
  async restart(): Promise<void> {
    this.daemon = await DaemonProcess.start({ ...this.options, listen: `${this.daemon.host}:${this.daemon.port}` });
    running.add(this);
  }
}

/** Stops every TestTarget still running (mocha root hook safety net). */
export async function stopAllTargets(): Promise<void> {
  await Promise.all([...running].map((t) => t.stop()));
}
