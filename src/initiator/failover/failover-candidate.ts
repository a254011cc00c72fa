/**
 * FailoverCandidate: one node's bid to be the primary of a replicated pool, elected through etcd
 * as Patroni elects PostgreSQL's primary.
 *
 * Every candidate of a group campaigns for the group's leader key, a key on an etcd lease taken by
 * a transaction that succeeds only while the key does not exist. The winner takes the next fencing
 * epoch from etcd (a counter only the leader may bump), promotes its local pool at that epoch and
 * emits 'elected'; the others stand by. The primary renews its lease every `loopWaitMs` and after
 * each renewal moves the pool's ack deadline to (sent time + TTL − margin), so a primary that cannot
 * renew stops acknowledging before its lease can expire (DESIGN-NOTES I8); the replicas' epoch check
 * refuses it anyway once a successor promoted (I5). On losing the role it emits 'demoted', closes
 * the pool and campaigns again as a standby.
 */
import { EventEmitter } from 'events';
import { RpmemError, ErrorCode } from '../../common/errors';
import type { ReplicatedPool } from '../replicated-pool';
import { CandidateRole, FailoverCandidateEvents, FailoverCandidateOptions, ResolvedCandidateOptions, resolveCandidateOptions } from './candidate-options';

export class FailoverCandidate extends EventEmitter {
  private readonly options: ResolvedCandidateOptions;
  private currentRole = CandidateRole.Stopped;
  private currentPool?: ReplicatedPool;

  /** Checks the options (RPMEM_E_INVALID_ARGUMENT); nothing connects before {@link start}. */
  constructor(options: FailoverCandidateOptions) {
    super();
    this.options = resolveCandidateOptions(options);
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
    return this.currentPool;
  }

  /**
   * Joins the group and campaigns; resolves once the candidate registered as a member (it is then
   * a standby or already campaigning). Rejects if etcd cannot be reached within `retryTimeoutMs`.
   */
  async start(): Promise<void> {
    throw new RpmemError(ErrorCode.INTERNAL, 'FailoverCandidate.start is not implemented yet');
  }

  /**
   * Leaves the group: a primary closes its pool first, then revokes its lease so a standby can take
   * over at once instead of after the TTL. Resolves once done; the candidate is then Stopped.
   */
  async stop(): Promise<void> {
    throw new RpmemError(ErrorCode.INTERNAL, 'FailoverCandidate.stop is not implemented yet');
  }

  override on<E extends keyof FailoverCandidateEvents>(event: E, listener: (...args: FailoverCandidateEvents[E]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  override once<E extends keyof FailoverCandidateEvents>(event: E, listener: (...args: FailoverCandidateEvents[E]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }

  override emit<E extends keyof FailoverCandidateEvents>(event: E, ...args: FailoverCandidateEvents[E]): boolean;
  override emit(event: string | symbol, ...args: any[]): boolean {
    return super.emit(event, ...args);
  }
}
