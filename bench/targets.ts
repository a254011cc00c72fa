/**
 * rpmemd targets for the bench, spawned through DaemonProcess: cache-line with its pool dir on
 * /dev/shm, page with its pool dir on the work disk (os.tmpdir()). Each is stopped (SIGTERM) and
 * its dir removed by stop(), or killed at exit if the bench dies first.
 *
 * An authenticated target has a token file with the run's writer token ({@link BENCH_TOKEN}, one
 * for every target so a ReplicatedPool reaches all of them), which {@link BenchTarget.connect}
 * carries: its connections get rpmemd's authenticated receive window, as an application's would.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Granularity } from '../src/storage/native';
import type { ConnectOptions } from '../src/initiator/options';
import { DaemonProcess } from '../src/target/daemon-process';
import { SHM_DIR, removeDir, tempDir, trackPid, untrackPid } from './cleanup';

/** This run's writer token. */
export const BENCH_TOKEN = crypto.randomBytes(24).toString('hex');

export class BenchTarget {
  private constructor(
    readonly daemon: DaemonProcess,
    readonly poolDir: string,
    private readonly tokenDir: string,
    readonly granularity: Granularity,
    readonly maxInflightBytes: number,
    /** What a client passes to connect (the token, when authenticated). */
    readonly connect: ConnectOptions,
  ) {}

  static async start(granularity: Granularity, maxInflightBytes: number, label = 'target', authenticated = true): Promise<BenchTarget> {
    const poolDir = tempDir(`${label}-${granularity}`, granularity === 'cache-line' ? SHM_DIR : undefined);
    const tokenDir = tempDir(`${label}-token`);
    try {
      const args = ['--log-level', 'warn', '--max-inflight-bytes', String(maxInflightBytes)];
      const connect: ConnectOptions = {};
      if (authenticated) {
        const token = BENCH_TOKEN;
        const file = path.join(tokenDir, 'tokens.yaml');
        fs.writeFileSync(file, `tokens:\n  - token: "${token}"\n`, { mode: 0o600 });
        args.push('--auth-token-file', file);
        connect.token = token;
      }
      const daemon = await DaemonProcess.start({ poolDir, granularity, args });
      trackPid(daemon.pid);
      return new BenchTarget(daemon, poolDir, tokenDir, granularity, maxInflightBytes, connect);
    } catch (err) {
      removeDir(poolDir);
      removeDir(tokenDir);
      throw err;
    }
  }

  get address(): string {
    return this.daemon.address;
  }

  get pid(): number {
    return this.daemon.pid;
  }

  async stop(): Promise<void> {
    const pid = this.daemon.pid;
    await this.daemon.stop();
    untrackPid(pid);
    removeDir(this.poolDir);
    removeDir(this.tokenDir);
  }
}
