/**
 * The test side of candidate-process.ts: spawns candidates, parses their event lines into a
 * history (acks with their primary's epoch and monotonic time, elections with the slot snapshot),
 * and checks that history against docs/design.md I8: one primary acknowledges at a time, in epoch
 * order, and every acknowledged record is held by the next primary and at the end.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { expect } from 'chai';
import type { CandidateArgs } from './candidate-process';
import { SLOTS } from './stamps';

export interface Ack {
  member: string;
  value: number;
  epoch: bigint;
  /** When rpmem acknowledged it (acknowledgedNs). */
  ns: bigint;
  /** When the candidate's callback saw it: later than `ns` by any pause in between. */
  deliveredNs: bigint;
}

export interface Election {
  member: string;
  epoch: bigint;
  ns: bigint;
  /** The stamp in each slot of the new primary's pool when it was elected (-1: none). */
  snapshot: number[];
}

export interface RoleChange {
  member: string;
  kind: 'demoted' | 'standby' | 'started';
  ns: bigint;
  detail: string;
}

/** Everything every candidate of a run printed, in arrival order per kind. */
export class History {
  readonly acks: Ack[] = [];
  readonly elections: Election[] = [];
  readonly changes: RoleChange[] = [];
  readonly warnings: string[] = [];

  acksOf(member: string, afterNs = -1n): Ack[] {
    return this.acks.filter((a) => a.member === member && a.ns > afterNs);
  }

  electionsOf(member: string, afterNs = -1n): Election[] {
    return this.elections.filter((e) => e.member === member && e.ns > afterNs);
  }

  changesOf(member: string, kind: RoleChange['kind'], afterNs = -1n): RoleChange[] {
    return this.changes.filter((c) => c.member === member && c.kind === kind && c.ns > afterNs);
  }

  /** Elections of anyone but `member` after `afterNs`. */
  electionsExcept(member: string, afterNs: bigint): Election[] {
    return this.elections.filter((e) => e.member !== member && e.ns > afterNs);
  }

  /** Acks of `member` acknowledged at or before `beforeNs` whose callback ran after `afterNs`: held up by a pause. */
  lateDeliveries(member: string, beforeNs: bigint, afterNs: bigint): Ack[] {
    return this.acks.filter((a) => a.member === member && a.ns <= beforeNs && a.deliveredNs > afterNs);
  }

  /**
   * Every event in time order, runs of acks of one member and epoch folded into one line, with
   * the test's own `marks` (name → monotonic ns) interleaved: what a failed assertion prints, so
   * a failure that shows up once in many runs explains itself.
   */
  timeline(marks: Record<string, bigint> = {}): string {
    type Row = { ns: bigint; text: string; ack?: Ack };
    const rows: Row[] = [
      ...this.acks.map((a) => ({ ns: a.ns, text: '', ack: a })),
      ...this.elections.map((e) => ({ ns: e.ns, text: `${e.member} elected at epoch ${e.epoch}` })),
      ...this.changes.map((c) => ({ ns: c.ns, text: `${c.member} ${c.kind} ${c.detail}` })),
      ...Object.entries(marks).map(([name, ns]) => ({ ns, text: `-- ${name}` })),
    ].sort((x, y) => (x.ns < y.ns ? -1 : x.ns > y.ns ? 1 : 0));
    const t0 = rows.length > 0 ? rows[0].ns : 0n;
    const at = (ns: bigint): string => `${(Number(ns - t0) / 1e6).toFixed(3).padStart(10)} ms`;
    const out: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      const first = rows[i].ack;
      if (first === undefined) {
        out.push(`${at(rows[i].ns)}  ${rows[i].text}`);
        continue;
      }
      let j = i;
      while (j + 1 < rows.length && rows[j + 1].ack?.member === first.member && rows[j + 1].ack?.epoch === first.epoch) j++;
      const last = rows[j].ack!;
      out.push(
        `${at(rows[i].ns)}  ${first.member} epoch ${first.epoch}: ${j - i + 1} ack(s), values ${first.value}..${last.value}, until ${at(last.ns)} (delivered by ${at(last.deliveredNs)})`,
      );
      i = j;
    }
    return [...out, ...this.warnings.map((w) => `warning: ${w}`)].join('\n');
  }
}

/** The CLOCK_MONOTONIC time the candidates stamp their lines with. */
export function monoNs(): bigint {
  return process.hrtime.bigint();
}

export class CandidateProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';

  constructor(
    readonly member: string,
    args: Omit<CandidateArgs, 'member'>,
    history: History,
  ) {
    const script = path.join(__dirname, 'candidate-process.js');
    this.child = spawn(process.execPath, [script, JSON.stringify({ ...args, member })], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)));
    readline.createInterface({ input: this.child.stdout! }).on('line', (text) => parseLine(member, text, history));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGKILLs the process (SIGCONT first, in case it is stopped) and waits for it to be gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

function parseLine(member: string, text: string, history: History): void {
  const [kind, a, b, c, d] = text.split(' ', 5);
  const rest = text.split(' ').slice(3).join(' ');
  if (kind === 'acked') history.acks.push({ member, value: Number(a), epoch: BigInt(b), ns: BigInt(c), deliveredNs: BigInt(d) });
  else if (kind === 'elected')
    history.elections.push({
      member,
      epoch: BigInt(a),
      ns: BigInt(b),
      snapshot: JSON.parse(text.split(' ').slice(3).join(' ')) as number[],
    });
  else if (kind === 'demoted') history.changes.push({ member, kind, ns: BigInt(b), detail: `epoch ${a}: ${rest}` });
  else if (kind === 'standby' || kind === 'started')
    history.changes.push({ member, kind, ns: BigInt(a), detail: text.split(' ').slice(2).join(' ') });
  else if (kind === 'warning') history.warnings.push(`${member} ${text}`);
}

/** The highest value acknowledged in each slot by acks that `include` selects (-1: none). */
export function highestAcked(acks: Ack[]): number[] {
  const best = new Array<number>(SLOTS).fill(-1);
  for (const a of acks) {
    const slot = (a.value % 1_000_000) % SLOTS;
    if (a.value > best[slot]) best[slot] = a.value;
  }
  return best;
}

/** Slots of `held` that lack a record acknowledged in `acked`. */
export function missing(acked: number[], held: number[]): Array<{ slot: number; acked: number; held: number }> {
  const out = [];
  for (let slot = 0; slot < SLOTS; slot++)
    if (acked[slot] >= 0 && !(held[slot] >= acked[slot])) out.push({ slot, acked: acked[slot], held: held[slot] });
  return out;
}

/**
 * I8 over a whole run: every epoch was served by one member; epochs acknowledged in strictly
 * increasing order with no overlap in time (all acks of an epoch precede the first ack of any
 * higher one); every new primary's pool held, when it was elected, every record acknowledged
 * before under a lower epoch. Returns how many terms acknowledged something.
 */
export function checkHistory(history: History): number {
  const memberOf = new Map<bigint, string>();
  for (const e of history.elections) {
    expect(memberOf.get(e.epoch) ?? e.member, `epoch ${e.epoch} elected twice`).to.equal(e.member);
    memberOf.set(e.epoch, e.member);
  }
  for (const a of history.acks) expect(memberOf.get(a.epoch), `ack of ${a.value} by ${a.member} under epoch ${a.epoch}`).to.equal(a.member);
  const epochs = [...new Set(history.acks.map((a) => a.epoch))].sort((x, y) => (x < y ? -1 : 1));
  for (let i = 1; i < epochs.length; i++) {
    const lastOfPrev = history.acks.filter((a) => a.epoch === epochs[i - 1]).reduce((m, a) => (a.ns > m ? a.ns : m), 0n);
    const firstOfNext = history.acks
      .filter((a) => a.epoch === epochs[i])
      .reduce((m, a) => (a.ns < m ? a.ns : m), BigInt(Number.MAX_SAFE_INTEGER) * 1000n);
    expect(
      lastOfPrev < firstOfNext,
      `epoch ${epochs[i - 1]} (${memberOf.get(epochs[i - 1])}) acked ${Number(lastOfPrev - firstOfNext) / 1e6} ms after epoch ${epochs[i]}'s first ack`,
    ).to.equal(true);
  }
  for (const e of history.elections) {
    const before = highestAcked(history.acks.filter((a) => a.epoch < e.epoch));
    const lost = missing(before, e.snapshot);
    expect(lost, `records acknowledged before epoch ${e.epoch} missing from ${e.member}'s pool at its election`).to.deep.equal([]);
  }
  return epochs.length;
}
