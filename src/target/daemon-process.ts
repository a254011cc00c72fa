/**
 * Runs rpmemd as a child process and learns its address from its one stdout line. Used by the demo
 * and the tests, which need a real daemon they can signal by PID.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../storage/errors';

const MAIN = path.join(__dirname, 'main.js');
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;
const STDERR_TAIL_LINES = 50;

/**
 * glibc malloc settings for rpmemd: grpc-js allocates fresh message-sized buffers for every
 * message, and by default glibc serves each from a new mmap and unmaps it on free, so every
 * message pays page faults. Keeping them on the heap cut CPU per 4 KiB range by ~40% (bench/).
 * Values already in the environment win.
 */
export const MALLOC_TUNING = { MALLOC_MMAP_THRESHOLD_: '67108864', MALLOC_TRIM_THRESHOLD_: '67108864' };

export interface DaemonOptions {
  poolDir: string;
  /** Default `127.0.0.1:0` (a free port). */
  listen?: string;
  granularity?: 'auto' | 'cache-line' | 'page';
  /** More rpmemd flags, e.g. `['--max-range-bytes', '65536']`. */
  args?: string[];
  /** Serve TLS with these PEM files (mutual TLS when `ca` is given). Default: plaintext (`--insecure`) on loopback. */
  tls?: { cert: string; key: string; ca?: string };
  /** Keep all of stderr in {@link DaemonProcess.stderrAll}, not only its tail (a test that scans the whole log). Default false. */
  keepStderr?: boolean;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class DaemonProcess {
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly host: string,
    readonly port: number,
    /** The last lines rpmemd wrote to stderr (its log) since it started, for diagnostics. */
    readonly stderrTail: string[],
    private readonly stderrChunks: string[] | undefined,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Spawns rpmemd and resolves once it listens; rejects with its stderr if it does not within 15 s. */
  static start(options: DaemonOptions): Promise<DaemonProcess> {
    const args = [MAIN, '--pool-dir', options.poolDir, '--listen', options.listen ?? '127.0.0.1:0'];
    if (options.granularity) args.push('--granularity', options.granularity);
    if (options.tls === undefined) args.push('--insecure');
    else args.push('--tls-cert', options.tls.cert, '--tls-key', options.tls.key, ...(options.tls.ca ? ['--tls-ca', options.tls.ca] : []));
    args.push(...(options.args ?? []));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...MALLOC_TUNING, ...process.env } });
    const tail: string[] = [];
    const chunks: string[] | undefined = options.keepStderr ? [] : undefined;
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      chunks?.push(text);
      for (const line of text.split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > STDERR_TAIL_LINES) tail.shift();
      }
    });
    const stderr = (): string => tail.join('\n');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new RpmemError(ErrorCode.TIMEOUT, `rpmemd did not start within ${START_TIMEOUT_MS} ms: ${stderr()}`));
      }, START_TIMEOUT_MS);
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        const m = /rpmemd listening on (.+):(\d+)\n/.exec(stdout);
        if (m === null) return;
        clearTimeout(timer);
        resolve(new DaemonProcess(child, m[1], Number(m[2]), tail, chunks));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new RpmemError(ErrorCode.UNAVAILABLE, `rpmemd exited (${code ?? signal}) before listening: ${stderr()}`));
      });
    });
  }

  /** Everything rpmemd wrote to stderr since it started; undefined unless started with `keepStderr`. */
  get stderrAll(): string | undefined {
    return this.stderrChunks?.join('');
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** True until the process exits. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
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
