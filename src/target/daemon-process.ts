/**
 * Runs rpmemd as a child process and learns its address from its one stdout line. Used by the demo
 * and the tests, which need a real daemon they can signal by PID.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../common/errors';

const MAIN = path.join(__dirname, 'main.js');
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;
const STDERR_TAIL_LINES = 50;

export interface DaemonOptions {
  poolDir: string;
  /** Default `127.0.0.1:0` (a free port). */
  listen?: string;
  granularity?: 'auto' | 'cache-line' | 'page';
  /** More rpmemd flags, e.g. `['--max-range-bytes', '65536']`. */
  args?: string[];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class DaemonProcess {
  /** The last lines rpmemd wrote to stderr (its log), for diagnostics. */
  readonly stderrTail: string[] = [];
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly host: string,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      for (const line of text.split('\n').filter(Boolean)) {
        this.stderrTail.push(line);
        if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
      }
    });
  }

  /** Spawns rpmemd and resolves once it listens; rejects with its stderr if it does not within 15 s. */
  static start(options: DaemonOptions): Promise<DaemonProcess> {
    const args = [MAIN, '--pool-dir', options.poolDir, '--listen', options.listen ?? '127.0.0.1:0'];
    if (options.granularity) args.push('--granularity', options.granularity);
    args.push(...(options.args ?? []));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new RpmemError(ErrorCode.TIMEOUT, `rpmemd did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
      }, START_TIMEOUT_MS);
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        const m = /rpmemd listening on (.+):(\d+)\n/.exec(stdout);
        if (m === null) return;
        clearTimeout(timer);
        resolve(new DaemonProcess(child, m[1], Number(m[2])));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new RpmemError(ErrorCode.UNAVAILABLE, `rpmemd exited (${code ?? signal}) before listening: ${stderr.trim()}`));
      });
    });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Sends `signal` to the daemon's PID. */
  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  /** SIGTERM, then waits for the exit (SIGKILL after 15 s); resolves with how it exited. */
  async stop(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGCONT');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return this.exited;
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return this.exited;
  }
}
