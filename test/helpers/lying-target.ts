/**
 * Starts lying-target-main.js (a Target that lies about durability on purpose) as a child process
 * on a free loopback port, and stops it by PID.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';

const MAIN = path.join(__dirname, 'lying-target-main.js');
const START_TIMEOUT_MS = 15_000;

export class LyingTarget {
  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
  ) {}

  static start(): Promise<LyingTarget> {
    const child = spawn(process.execPath, [MAIN], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`lying target did not listen within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening (\d+)\n/.exec(out);
        if (m === null) return;
        clearTimeout(timer);
        resolve(new LyingTarget(child, `127.0.0.1:${m[1]}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`lying target exited with ${code} before listening`));
      });
    });
  }

  /** SIGKILLs the process (by PID) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}
