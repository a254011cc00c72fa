/**
 * rpmemd targets for the bench, spawned through DaemonProcess: cache-line with its pool dir on
 * /dev/shm, page with its pool dir on the work disk (os.tmpdir()). Each is stopped (SIGTERM) and
 * its dir removed by stop(), or killed at exit if the bench dies first.
 */
import { Granularity } from '../src/common/native';
import { DaemonProcess } from '../src/target/daemon-process';
import { SHM_DIR, removeDir, tempDir, trackPid, untrackPid } from './cleanup';

export class BenchTarget {
  private constructor(
    readonly daemon: DaemonProcess,
    readonly poolDir: string,
    readonly granularity: Granularity,
    readonly maxInflightBytes: number,
  ) {}

  static async start(granularity: Granularity, maxInflightBytes: number, label = 'target'): Promise<BenchTarget> {
    const poolDir = tempDir(`${label}-${granularity}`, granularity === 'cache-line' ? SHM_DIR : undefined);
    try {
      const daemon = await DaemonProcess.start({
        poolDir,
        granularity,
        args: ['--log-level', 'warn', '--max-inflight-bytes', String(maxInflightBytes)],
      });
      trackPid(daemon.pid);
      return new BenchTarget(daemon, poolDir, granularity, maxInflightBytes);
    } catch (err) {
      removeDir(poolDir);
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
  }
}
