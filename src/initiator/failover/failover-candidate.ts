/**
 * FailoverCandidate: one node's bid to be the primary of a replicated pool, elected through etcd
 * as Patroni elects PostgreSQL's primary.
 *
 * Every candidate of a group campaigns for the group's leader key, a key on an etcd lease taken by
 * a transaction that succeeds only while the key does not exist (leader-lease.ts). The winner takes
 * the next fencing epoch from etcd (epoch-counter.ts), promotes its local pool at that epoch and
 * emits 'elected'; the others stand by and campaign again when the key is deleted or every
 * `loopWaitMs`. The primary renews its lease every `loopWaitMs` and after each renewal moves the
 * pool's ack deadline to (sent time + TTL − margin), so a primary that cannot renew stops
 * acknowledging before its lease can expire (docs/design.md I8); the replicas' epoch check refuses
 * it anyway once a successor promoted (I5). On losing the role it emits 'demoted', closes the pool
 * and campaigns again as a standby.
 *
 * With `holdPool: false` (rpmem failover-agent's `exec` mode) the candidate closes the pool right
 * after the promotion for another process to open; a timer at the ack deadline then ends the term,
 * so 'demoted' comes before the lease can expire and its listener can stop that writer.
 */
import { EventEmitter } from 'events';
import { performance } from 'perf_hooks';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { RpmemError, ErrorCode, asRpmemError } from '../../storage/errors';
import type { ConnectOptions } from '../options';
import { promote } from '../promote';
import type { ReplicatedPool } from '../replicated-pool';
import {
  CandidateRole,
  ElectedPool,
  FailoverCandidateEvents,
  FailoverCandidateOptions,
  ResolvedCandidateOptions,
  resolveCandidateOptions,
} from './candidate-options';
import { ClusterKeys, MemberRecord, PrimaryRecord, clusterKeys } from './cluster-keys';
import { connectEtcd, etcdError } from './etcd-client';
import { bumpEpoch } from './epoch-counter';
import { LeaderLease } from './leader-lease';
import { replicaEpochFloor } from './replica-epoch-floor';

/** Promotions tried within one term when a replica reports a higher epoch than the one claimed. */
const PROMOTE_ATTEMPTS = 3;
/** Pause between two renewals after a failed one, while the ack deadline has not passed. */
const RENEW_RETRY_MS = 100;

/** One term of office: the lease, and how it ends. */
interface Term {
  lease: LeaderLease;
  /** The `performance.now()` from which the lease may have expired. */
  expiresAt: number;
  /** The promoted pool, while the candidate holds it. */
  pool?: ReplicatedPool;
  /** The epoch this term promoted at, once it did. */
  epoch?: bigint;
  /** Set by resign(): the candidate gives the others a turn before it campaigns again. */
  resigned?: boolean;
  /** Why the term ended; set once. */
  ended?: string;
  end: (reason: string) => void;
  done: Promise<void>;
}

/**
 * One node's candidacy. `Held` follows the `holdPool` option: with the default (`true`) 'elected'
 * carries the open pool; with `holdPool: false` it carries none.
 */
export class FailoverCandidate<Held extends boolean = true> extends EventEmitter<FailoverCandidateEvents<Held>> {
  private readonly options: ResolvedCandidateOptions;
  private readonly keys: ClusterKeys;
  private readonly connect: ConnectOptions;
  private currentRole = CandidateRole.Stopped;
  private client?: Etcd3;
  private memberLease?: Lease;
  private watcher?: Watcher;
  private term?: Term;
  private loop?: Promise<void>;
  private stopping = false;
  private lastLeader: string | undefined | null = null;
  /** Wakes a waiting standby early (the leader key was deleted, or stop()). */
  private wake: () => void = () => undefined;

  /** Checks the options (RPMEM_E_INVALID_ARGUMENT); nothing connects before {@link start}. */
  constructor(options: FailoverCandidateOptions<Held>) {
    super();
    this.options = resolveCandidateOptions(options);
    this.keys = clusterKeys(this.options.keyPrefix, this.options.group);
    const { tls, token, channelOptions, callTimeoutMs } = this.options;
    this.connect = { tls, token, channelOptions, callTimeoutMs };
  }

  /** This candidate's member name in the group. */
  get member(): string {
    return this.options.member;
  }

  /** What the candidate is doing now. */
  get role(): CandidateRole {
    return this.currentRole;
  }

  /** The pool while this candidate is the primary, else undefined. */
  get pool(): ReplicatedPool | undefined {
    return this.currentRole === CandidateRole.Primary ? this.term?.pool : undefined;
  }

  /**
   * Joins the group and campaigns; resolves once the candidate registered as a member (it is then
   * a standby or already campaigning). Rejects if etcd cannot be reached within `retryTimeoutMs`.
   */
  async start(): Promise<void> {
    if (this.client !== undefined) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, 'FailoverCandidate already started');
    this.stopping = false;
    this.client = connectEtcd(this.options.etcd, this.options.retryTimeoutMs);
    try {
      await this.register(CandidateRole.Standby);
    } catch (err) {
      this.client.close();
      this.client = undefined;
      throw err;
    }
    this.currentRole = CandidateRole.Standby;
    this.watchLeader();
    this.loop = this.run();
  }

  /**
   * Leaves the group: a primary closes its pool first, then revokes its lease so a standby can take
   * over at once instead of after the TTL. Resolves once done; the candidate is then Stopped.
   */
  async stop(): Promise<void> {
    if (this.client === undefined) return;
    this.stopping = true;
    this.term?.end('stopped');
    this.wake();
    await this.loop;
    await this.watcher?.cancel().catch(() => undefined);
    await this.memberLease?.revoke().catch(() => undefined);
    this.client.close();
    this.client = undefined;
    this.memberLease = undefined;
    this.watcher = undefined;
    this.currentRole = CandidateRole.Stopped;
  }

  /**
   * Gives the primary role up now, as a lost lease would: 'demoted' with `reason`, then the lease
   * is revoked so a standby can take over at once, and this candidate waits `loopWaitMs` before
   * it campaigns again. Resolves once the term ended; does nothing unless a term is being held.
   */
  async resign(reason = 'resigned'): Promise<void> {
    const term = this.term;
    if (term === undefined) return;
    term.resigned = true;
    term.end(reason);
    await term.done;
  }

  /** Campaign, serve when elected, stand by otherwise; until stop(). */
  private async run(): Promise<void> {
    const client = this.client!;
    while (!this.stopping) {
      let outcome;
      try {
        if (this.memberLease === undefined) await this.register(CandidateRole.Standby);
        outcome = await LeaderLease.campaign(client, this.keys, this.member, this.options.ttlSeconds, this.options.retryTimeoutMs);
      } catch (err) {
        this.warn(etcdError('campaign', err));
        await this.pause(this.options.loopWaitMs);
        continue;
      }
      if (outcome.won) {
        const { served, resigned } = await this.serve(outcome.lease);
        // A promotion that failed, or a resignation, gives the others a turn before this one
        // campaigns again; its own revoke deletes the leader key, so the watch must not wake it.
        if ((!served || resigned) && !this.stopping) await this.pause(this.options.loopWaitMs, false);
        continue;
      }
      this.standBy(outcome.leader);
      await this.pause(this.options.loopWaitMs);
    }
  }

  /** Holds one term: promote, serve until the lease or the role is lost. Resolves whether it was ever primary, and whether it resigned. */
  private async serve(lease: LeaderLease): Promise<{ served: boolean; resigned: boolean }> {
    let end!: (reason: string) => void;
    const done = new Promise<void>((resolve) => (end = () => resolve()));
    const term: Term = {
      lease,
      expiresAt: lease.expiresAt,
      end: (reason) => {
        if (term.ended !== undefined) return;
        term.ended = reason;
        // Nothing may be acknowledged once the role is being given up, whatever the lease says.
        term.pool?.setAckDeadline(performance.now());
        end(reason);
      },
      done,
    };
    this.term = term;
    this.setRole(CandidateRole.Promoting);
    const renewing = this.renew(term);
    let elected = false;
    try {
      const pool = await this.promote(term);
      if (pool !== undefined) {
        const held = this.options.holdPool !== false;
        term.epoch = pool.epoch;
        // Released, the pool's local header keeps this term's claim for the next open of the path.
        if (held) term.pool = pool;
        else await pool.close();
        if (term.ended !== undefined) pool.setAckDeadline(performance.now());
        else {
          pool.setAckDeadline(term.expiresAt - this.options.fenceMarginMs);
          elected = true;
          this.setRole(CandidateRole.Primary);
          void this.publishPrimary(term, pool.epoch);
          this.emit('elected', { pool: (held ? pool : undefined) as ElectedPool<Held>, epoch: pool.epoch, promotion: pool.promotion });
        }
      }
    } catch (err) {
      this.warn(err);
      term.end(`promotion failed: ${String(err)}`);
    }
    await term.done;
    // Emitted before waiting for a renewal still in flight: a listener that stops a writer must
    // hear of the end at the deadline, not up to a retry timeout later.
    if (elected) this.emit('demoted', { epoch: term.epoch!, reason: term.ended! });
    await renewing;
    await term.pool?.close().catch((err) => this.warn(err));
    if (elected) await this.options.beforeResign?.().catch((err) => this.warn(err, 'beforeResign'));
    await lease.revoke();
    this.term = undefined;
    // The next campaign that loses reports 'standby' again, even to the same leader as before.
    this.lastLeader = null;
    this.setRole(this.stopping ? CandidateRole.Stopped : CandidateRole.Standby);
    return { served: elected, resigned: term.resigned === true };
  }

  /** Takes the next epoch from etcd and promotes at it; retries higher when a replica promised more. */
  private async promote(term: Term): Promise<ReplicatedPool | undefined> {
    const client = this.client!;
    for (let attempt = 1; ; attempt++) {
      const floor = await replicaEpochFloor(this.options.replicas, this.connect);
      const epoch = await bumpEpoch(client, this.keys, term.lease.createRevision, floor);
      if (term.ended !== undefined) return undefined;
      const userOn = this.options.on ?? {};
      try {
        return await promote(this.options.path, {
          ...this.options,
          epoch,
          on: {
            ...userOn,
            fenced: (e) => {
              userOn.fenced?.(e);
              term.end(`fenced (${e.replica}): ${e.error.message}`);
            },
          },
        });
      } catch (err) {
        if (!(err instanceof RpmemError) || err.code !== ErrorCode.FENCED || attempt >= PROMOTE_ATTEMPTS || term.ended !== undefined)
          throw err;
        this.warn(err);
      }
    }
  }

  /**
   * Renews the term's lease every `loopWaitMs` (sooner after a failure) and moves the pool's ack
   * deadline after each success; ends the term when the lease is gone or the deadline passed, the
   * latter by a timer, so the end is not held up by a renewal still waiting for etcd.
   */
  private async renew(term: Term): Promise<void> {
    const { loopWaitMs, fenceMarginMs } = this.options;
    const lapsed = 'the leader lease could not be renewed before the ack deadline';
    const atDeadline = (): NodeJS.Timeout =>
      setTimeout(() => term.end(lapsed), Math.max(0, term.expiresAt - fenceMarginMs - performance.now()));
    let deadline = atDeadline();
    let next = performance.now() + loopWaitMs;
    try {
      while (term.ended === undefined) {
        await Promise.race([term.done, sleep(Math.max(0, next - performance.now()))]);
        if (term.ended !== undefined) return;
        try {
          term.expiresAt = await term.lease.renew();
          if (term.ended !== undefined) return;
          term.pool?.setAckDeadline(term.expiresAt - fenceMarginMs);
          clearTimeout(deadline);
          deadline = atDeadline();
          next = performance.now() + loopWaitMs;
        } catch (err) {
          const e = etcdError('lease renewal', err);
          if (e.code === ErrorCode.FENCED) return term.end(e.message);
          this.warn(e);
          next = performance.now() + RENEW_RETRY_MS;
        }
        if (performance.now() >= term.expiresAt - fenceMarginMs) return term.end(lapsed);
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Registers (or re-registers) this member on a lease of its own, kept alive by etcd3. */
  private async register(role: CandidateRole): Promise<void> {
    const lease = this.client!.lease(this.options.ttlSeconds);
    lease.on('lost', () => {
      if (this.memberLease === lease) this.memberLease = undefined;
    });
    try {
      await lease.put(this.keys.member(this.member)).value(JSON.stringify(this.memberRecord(role)));
    } catch (err) {
      lease.release();
      throw etcdError('register member', err);
    }
    this.memberLease = lease;
  }

  private memberRecord(role: CandidateRole): MemberRecord {
    return { member: this.member, role, pool: this.options.path, since: new Date().toISOString() };
  }

  /** Writes the primary record on the term's lease, so it vanishes with it. Best effort: status only. */
  private async publishPrimary(term: Term, epoch: bigint): Promise<void> {
    const record: PrimaryRecord = {
      member: this.member,
      epoch: epoch.toString(),
      replicas: this.options.replicas,
      since: new Date().toISOString(),
    };
    await this.client!.put(this.keys.primary)
      .value(JSON.stringify(record))
      .lease(term.lease.id)
      .exec()
      .catch((err) => this.warn(etcdError('publish primary', err)));
  }

  private setRole(role: CandidateRole): void {
    if (role === this.currentRole) return;
    this.currentRole = role;
    if (role === CandidateRole.Stopped) return;
    void this.memberLease
      ?.put(this.keys.member(this.member))
      .value(JSON.stringify(this.memberRecord(role)))
      .exec()
      .catch(() => undefined);
  }

  private standBy(leader: string | undefined): void {
    if (leader === this.lastLeader && this.currentRole === CandidateRole.Standby) return;
    this.lastLeader = leader;
    this.setRole(CandidateRole.Standby);
    this.emit('standby', { leader });
  }

  /** Wakes the standby when the leader key is deleted (its lease expired or was revoked). */
  private watchLeader(): void {
    this.client!.watch()
      .key(this.keys.leader)
      .create()
      .then(
        (watcher) => {
          if (this.stopping) return void watcher.cancel().catch(() => undefined);
          this.watcher = watcher;
          watcher.on('delete', () => this.wake());
          watcher.on('error', (err) => this.warn(etcdError('watch leader', err)));
        },
        (err) => this.warn(etcdError('watch leader', err)),
      );
  }

  /** Waits `ms`, or less if woken by stop() or (when `onLeaderDeleted`) by the leader key's deletion. */
  private pause(ms: number, onLeaderDeleted = true): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const stopping = (): boolean => this.stopping;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = onLeaderDeleted
        ? done
        : () => {
            if (stopping()) done();
          };
    });
  }

  /** Emits 'warning' with `err`; anything but an RpmemError becomes RPMEM_E_INTERNAL, its message after `context`. */
  private warn(err: unknown, context?: string): void {
    this.emit('warning', asRpmemError(err, ErrorCode.INTERNAL, context === undefined ? undefined : `${context}: ${String(err)}`));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
