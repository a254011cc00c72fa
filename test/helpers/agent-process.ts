/**
 * An `rpmem failover-agent --exec` in its own process group, for the exec-mode tests: reads the
 * agent's JSON event lines (stamped with the CLOCK_MONOTONIC time they arrived) and its
 * application's lines (exec-app.ts, stamped by the application itself), which share the agent's
 * stdout. Killed by PID and process group only: the agent's, and each application's it reported.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

export interface AgentEvent {
  member: string;
  event: string;
  /** When the test read the line. */
  ns: bigint;
  fields: Record<string, unknown>;
}

export interface AppLine {
  member: string;
  kind: 'open' | 'acked' | 'fenced' | 'refused' | 'done';
  /** The record number (acked), else 0. */
  n: number;
  epoch: bigint;
  /** When the application printed it. */
  ns: bigint;
}

/** What every agent of a run and its applications printed. */
export class AgentHistory {
  readonly events: AgentEvent[] = [];
  readonly app: AppLine[] = [];

  eventsOf(member: string, event: string, afterNs = -1n): AgentEvent[] {
    return this.events.filter((e) => e.member === member && e.event === event && e.ns > afterNs);
  }

  acks(filter: { member?: string; epoch?: bigint; afterNs?: bigint } = {}): AppLine[] {
    return this.app.filter(
      (l) =>
        l.kind === 'acked' &&
        (filter.member === undefined || l.member === filter.member) &&
        (filter.epoch === undefined || l.epoch === filter.epoch) &&
        l.ns > (filter.afterNs ?? -1n),
    );
  }

  linesOf(member: string, kind: AppLine['kind'], epoch?: bigint): AppLine[] {
    return this.app.filter((l) => l.member === member && l.kind === kind && (epoch === undefined || l.epoch === epoch));
  }
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The process group IDs of the applications this agent started. */
  readonly appGroups: number[] = [];
  stderr = '';

  /** Starts `rpmem failover-agent` with `args` (flags), detached into a process group of its own. */
  constructor(
    readonly member: string,
    args: string[],
    private readonly history: AgentHistory,
  ) {
    const main = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
    this.child = spawn(process.execPath, [main, 'failover-agent', '--member', member, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)));
    readline.createInterface({ input: this.child.stdout! }).on('line', (text) => this.take(text));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The process group of the application this agent started last. */
  get appGroup(): number | undefined {
    return this.appGroups[this.appGroups.length - 1];
  }

  /** Signals the agent process alone. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Signals the agent's process group (the agent; its application has a group of its own). */
  signalGroup(signal: NodeJS.Signals): void {
    signalGroup(this.pid, signal);
  }

  /** SIGKILLs the agent's group and every application group it reported; waits for the agent. */
  async kill(): Promise<void> {
    for (const group of this.appGroups) signalGroup(group, 'SIGKILL');
    if (this.running) this.signalGroup('SIGKILL');
    await this.exited;
  }

  private take(text: string): void {
    const ns = process.hrtime.bigint();
    if (text.startsWith('{')) {
      const fields = JSON.parse(text) as Record<string, unknown>;
      if (fields.event === 'exec-started' && typeof fields.pid === 'number') this.appGroups.push(fields.pid);
      this.history.events.push({ member: this.member, event: String(fields.event), ns, fields });
      return;
    }
    const words = text.split(' ');
    const kind = words[0] as AppLine['kind'];
    if (kind === 'acked')
      this.history.app.push({ member: this.member, kind, n: Number(words[1]), epoch: BigInt(words[2]), ns: BigInt(words[3]) });
    else if (kind === 'open' || kind === 'fenced')
      this.history.app.push({ member: this.member, kind, n: 0, epoch: BigInt(words[1]), ns: BigInt(words[2]) });
    else if (kind === 'refused' || kind === 'done')
      this.history.app.push({ member: this.member, kind, n: 0, epoch: -1n, ns: BigInt(words[words.length - 1]) });
  }
}

/** Sends `signal` to process group `group`; a group already gone is fine. */
function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
