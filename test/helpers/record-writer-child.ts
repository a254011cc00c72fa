/**
 * The test's handle on a record-writer process: spawns it, reads its stdout line by line (a line
 * split across chunks is reassembled), and keeps what it reported.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import type { RecordWriterArgs } from './record-writer';
import { waitFor } from './wait';

export class RecordWriterChild {
  /** Records acknowledged, in the order the process reported them. */
  readonly acked: number[] = [];
  epoch?: bigint;
  /** The code of a refused open/promote, or 'fenced'. */
  refused?: string;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private partial = '';

  constructor(readonly args: RecordWriterArgs) {
    const script = path.join(__dirname, 'record-writer.js');
    this.child = spawn(process.execPath, [script, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => this.take(text));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits until the process acknowledged `n` records in all (or stopped: then rejects). */
  async waitForAcks(n: number, timeoutMs = 30_000): Promise<void> {
    let gone = false;
    void this.exited.then(() => (gone = true));
    await waitFor(() => this.acked.length >= n || gone, timeoutMs, `writer ${this.args.writer} to ack ${n} records`);
    if (this.acked.length < n)
      throw new Error(`writer ${this.args.writer} stopped (${this.refused ?? 'exited'}) after ${this.acked.length} acks`);
  }

  /** Waits until the process is open as primary, or refused. */
  async opened(timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.epoch !== undefined || this.refused !== undefined, timeoutMs, `writer ${this.args.writer} to open`);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** The acknowledged records as [writer, n] pairs, for missingRecords(). */
  ackedRecords(): Array<[number, number]> {
    return this.acked.map((n) => [this.args.writer, n]);
  }

  private take(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      const [word, value] = line.split(' ');
      if (word === 'acked') this.acked.push(Number(value));
      else if (word === 'open') this.epoch = BigInt(value);
      else if (word === 'refused') this.refused = value;
      else if (word === 'fenced') this.refused = 'fenced';
    }
  }
}
