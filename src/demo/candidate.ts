/**
 * One node of the `npm start` demo, run as a child process so the demo can SIGKILL it: it becomes
 * primary (opens the pool, or promotes a replica's copy when told, or when elected through etcd),
 * appends records with a RecordWriter, and reports to the demo over the IPC channel: the role it
 * took, the pool's events, and every record acknowledged.
 *
 * Argument: a JSON {@link CandidateConfig}. Messages in: `{ cmd: 'promote' }` (promote mode),
 * `{ cmd: 'stop' }` (drain, verify the replicas, close, exit 0).
 */
import { toJson } from '../cli/format';
import { RpmemError, ErrorCode, describeError } from '../storage/errors';
import { CandidateRole } from '../initiator/failover/candidate-options';
import { FailoverCandidate } from '../initiator/failover/failover-candidate';
import { promote } from '../initiator/promote';
import { ReplicatedPool, ReplicatedPoolListeners, ReplicatedPoolOptions } from '../initiator/replicated-pool';
import { RecordWriter } from './record-writer';
import { lastRecord } from './records';

export interface CandidateConfig {
  name: string;
  /** This node's local pool file. */
  pool: string;
  poolBytes: number;
  replicas: string[];
  /** `open`: primary from the start; `standby`: promote when the demo says so; `etcd`: campaign. */
  start: 'open' | 'standby' | 'etcd';
  recordsPerSecond: number;
  /** With `start: 'etcd'`: the cluster and the leader key's lease. */
  etcd?: { endpoints: string[]; ttlSeconds: number };
}

/** What a candidate tells the demo. */
export type CandidateMessage =
  | { type: 'standby'; name: string; leader?: string }
  | { type: 'primary'; name: string; how: PrimaryHow; epoch: string; first: number; promotion?: unknown }
  | { type: 'event'; name: string; event: string; replica?: string; detail: string }
  | { type: 'acked'; name: string; records: number[]; firstAt: number }
  | { type: 'stopped'; name: string; next: number; replicasIdentical: boolean; differing: string[] }
  | { type: 'error'; name: string; error: string };

/** How a candidate became primary: opened the pool, promoted on the demo's word, or elected through etcd. */
export type PrimaryHow = 'open' | 'promote' | 'elected';

const ACK_REPORT_MS = 50;
/** The etcd group of the demo's candidates. */
const GROUP = 'demo';

/** Sends `message` to the demo; resolves once it left (so an exit right after does not drop it). */
function send(message: CandidateMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(JSON.parse(toJson(message)), () => resolve());
  });
}

class Candidate {
  private writer?: RecordWriter;
  private rp?: ReplicatedPool;
  private elector?: FailoverCandidate;
  private announcedStandby = false;
  private acked: number[] = [];
  private firstAt = 0;
  private readonly flushTimer: NodeJS.Timeout;

  constructor(private readonly config: CandidateConfig) {
    this.flushTimer = setInterval(() => this.flushAcks(), ACK_REPORT_MS);
  }

  private get poolOptions(): ReplicatedPoolOptions {
    const name = this.config.name;
    const on: ReplicatedPoolListeners = {
      'replica-down': (p) => void send({ type: 'event', name, event: 'replica-down', replica: p.replica, detail: p.error.code }),
      'replica-up': (p) => void send({ type: 'event', name, event: 'replica-up', replica: p.replica, detail: '' }),
      'resync-done': (p) =>
        void send({
          type: 'event',
          name,
          event: 'resync-done',
          replica: p.replica,
          detail: `${p.full ? 'full' : 'incremental'}: ${p.blocksDone} block(s), ${p.bytesCopied} bytes in ${p.ms} ms`,
        }),
      degraded: (p) => void send({ type: 'event', name, event: 'degraded', detail: `${p.up} of ${p.total} replicas up` }),
      restored: (p) => void send({ type: 'event', name, event: 'restored', detail: `all ${p.total} replicas up` }),
      fenced: (p) => void send({ type: 'event', name, event: 'fenced', replica: p.replica, detail: p.error.code }),
    };
    return {
      replicas: this.config.replicas,
      ack: 'majority',
      // A restarted target is found within a second, not after the default 5 s backoff cap.
      reconnect: { maxMs: 1000 },
      ackTimeoutMs: 2000,
      callTimeoutMs: 3000,
      on,
    };
  }

  async start(): Promise<void> {
    if (this.config.start === 'open') {
      this.serve(await ReplicatedPool.open(this.config.pool, { ...this.poolOptions, create: { size: this.config.poolBytes } }), 'open');
    } else if (this.config.start === 'etcd') {
      await this.campaign();
    } else {
      void send({ type: 'standby', name: this.config.name });
    }
  }

  /** Joins the etcd group; serves when elected, stops writing when demoted. */
  private async campaign(): Promise<void> {
    const etcd = this.config.etcd;
    if (etcd === undefined) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, 'start "etcd" needs the etcd settings');
    const name = this.config.name;
    const elector = new FailoverCandidate({
      ...this.poolOptions,
      path: this.config.pool,
      etcd: { hosts: etcd.endpoints },
      group: GROUP,
      member: name,
      ttlSeconds: etcd.ttlSeconds,
    });
    this.elector = elector;
    elector.on('elected', ({ pool }) => this.serve(pool, 'elected'));
    elector.on('standby', ({ leader }) => {
      if (this.announcedStandby) return;
      this.announcedStandby = true;
      void send({ type: 'standby', name, leader });
    });
    elector.on('demoted', ({ reason }) => {
      void this.writer?.stop().catch(() => undefined);
      void send({ type: 'event', name, event: 'demoted', detail: reason });
    });
    elector.on('warning', (e) => void send({ type: 'event', name, event: 'warning', detail: `${e.code}: ${e.message}` }));
    await elector.start();
  }

  async promote(): Promise<void> {
    if (this.rp !== undefined) return;
    const rp = await promote(this.config.pool, this.poolOptions);
    this.serve(rp, 'promote');
  }

  private serve(rp: ReplicatedPool, how: PrimaryHow): void {
    this.rp = rp;
    const first = lastRecord(rp.buffer) + 1;
    void send({ type: 'primary', name: this.config.name, how, epoch: rp.epoch.toString(), first, promotion: rp.promotion });
    this.writer = new RecordWriter(rp, first, this.config.recordsPerSecond, {
      acked: (n, at) => {
        if (this.acked.length === 0) this.firstAt = at;
        this.acked.push(n);
      },
      waiting: (n, e) =>
        void send({ type: 'event', name: this.config.name, event: 'waiting-for-quorum', detail: `record ${n}: ${e.code}` }),
    });
    this.writer.start();
    void this.writer.ended().then((why) => {
      if (why !== undefined) void send({ type: 'error', name: this.config.name, error: describeError(why) });
    });
  }

  private flushAcks(): void {
    if (this.acked.length === 0) return;
    void send({ type: 'acked', name: this.config.name, records: this.acked, firstAt: this.firstAt });
    this.acked = [];
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    if (this.writer === undefined || this.rp === undefined) {
      await this.elector?.stop();
      await send({ type: 'stopped', name: this.config.name, next: 0, replicasIdentical: false, differing: [] });
      return;
    }
    const next = await this.writer.stop();
    this.flushAcks();
    await this.rp.waitForQuorum({ ack: 'all', timeoutMs: 15_000 });
    const verify = await this.rp.verify();
    // An elected primary leaves the group (which closes its pool) so its lease is revoked at once.
    if (this.elector !== undefined && this.elector.role !== CandidateRole.Stopped) await this.elector.stop();
    else await this.rp.close();
    const differing = verify.filter((v) => !v.compared || v.differing.length > 0).map((v) => v.replica);
    await send({ type: 'stopped', name: this.config.name, next, replicasIdentical: differing.length === 0, differing });
  }
}

function main(): void {
  const config = JSON.parse(process.argv[2] ?? '') as CandidateConfig;
  const candidate = new Candidate(config);
  const fail = (err: unknown): void => {
    void send({ type: 'error', name: config.name, error: describeError(err) }).then(() => process.exit(1));
  };
  // An orphan would keep writing: leave with the demo.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'promote') candidate.promote().catch(fail);
    else if (m.cmd === 'stop') candidate.stop().then(() => process.exit(0), fail);
    else fail(new RpmemError(ErrorCode.INVALID_ARGUMENT, `unknown command ${JSON.stringify(m)}`));
  });
  candidate.start().catch(fail);
}

main();
