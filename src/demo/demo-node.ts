/**
 * The demo's handle on one candidate child process (candidate.ts): its messages as they arrive,
 * bounded waits for a message that matches, commands, and SIGKILL.
 */
import { ChildProcess, fork } from 'child_process';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../storage/errors';
import type { CandidateConfig, CandidateMessage } from './candidate';

const CANDIDATE = path.join(__dirname, 'candidate.js');
const POLL_MS = 20;

export class DemoNode {
  readonly messages: CandidateMessage[] = [];
  /** Every record this node reported acknowledged. */
  readonly acked = new Set<number>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;

  constructor(readonly config: CandidateConfig) {
    this.child = fork(CANDIDATE, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.on('message', (m: CandidateMessage) => {
      this.messages.push(m);
      if (m.type === 'acked') for (const n of m.records) this.acked.add(n);
    });
  }

  get name(): string {
    return this.config.name;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  send(cmd: 'promote' | 'stop'): void {
    this.child.send({ cmd });
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /**
   * The first message from index `from` on for which `match` holds, waiting at most `timeoutMs`.
   * Rejects early when the node reports an error or exits.
   */
  async waitFor<T extends CandidateMessage>(
    what: string,
    match: (m: CandidateMessage) => m is T,
    timeoutMs: number,
    from?: number,
  ): Promise<T>;
  async waitFor(what: string, match: (m: CandidateMessage) => boolean, timeoutMs: number, from?: number): Promise<CandidateMessage>;
  async waitFor(what: string, match: (m: CandidateMessage) => boolean, timeoutMs: number, from = 0): Promise<CandidateMessage> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ;) {
      for (; i < this.messages.length; i++) {
        const m = this.messages[i];
        if (match(m)) return m;
        if (m.type === 'error')
          throw new RpmemError(ErrorCode.INTERNAL, `${this.name} failed while the demo waited for ${what}: ${m.error}`);
      }
      if (!this.running) throw new RpmemError(ErrorCode.INTERNAL, `${this.name} exited while the demo waited for ${what}`);
      if (Date.now() >= deadline) throw new RpmemError(ErrorCode.TIMEOUT, `${this.name}: no ${what} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Waits until this node has acknowledged `count` more records than it had at the call. */
  async waitAcks(count: number, timeoutMs: number, what: string): Promise<void> {
    const target = this.acked.size + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.size < target) {
      if (!this.running) throw new RpmemError(ErrorCode.INTERNAL, `${this.name} exited while the demo waited for ${what}`);
      const error = this.messages.find((m) => m.type === 'error');
      if (error?.type === 'error') throw new RpmemError(ErrorCode.INTERNAL, `${this.name} failed: ${error.error}`);
      if (Date.now() >= deadline)
        throw new RpmemError(
          ErrorCode.TIMEOUT,
          `${this.name}: only ${this.acked.size - target + count} of ${count} acks ${what} within ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
