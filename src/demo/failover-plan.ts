/**
 * How the demo's standby takes over: through etcd (both candidates campaign; the standby is elected
 * when the primary's lease expires) when an etcd binary is available, else by `promote()` on the
 * demo's word, as an operator would run `rpmem promote`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { RemotePool } from '../initiator/remote-pool';
import { parseReplica } from '../initiator/replica';
import type { CandidateConfig } from './candidate';
import type { DemoNode } from './demo-node';
import { LocalEtcd, findEtcd } from './local-etcd';

/** The leader key's lease in the demo: short, so the takeover is quick. */
const ETCD_TTL_SECONDS = 2;

export interface FailoverPlan {
  /** One line for the summary: which path, and why. */
  readonly summary: string;
  /** What happens after the primary is killed, for the narration. */
  readonly takeoverHow: string;
  /** Extra time the takeover may take beyond the promotion (the lease's TTL). */
  readonly electionMs: number;
  /** Starts what the plan needs (etcd). */
  start(say: (line: string) => void): Promise<void>;
  /** Makes the replica pools exist, where the first primary does not create them itself. */
  prepare(replicas: string[], poolBytes: number): Promise<void>;
  /** How a node starts: the first primary, or a standby. */
  configure(config: CandidateConfig, first: boolean): CandidateConfig;
  /** Called once the primary is dead. */
  afterPrimaryKilled(standby: DemoNode): void;
  stop(): Promise<void>;
}

class PromotePlan implements FailoverPlan {
  readonly takeoverHow = 'the demo promotes node-b, as an operator runs `rpmem promote`';
  readonly electionMs = 0;
  constructor(readonly summary: string) {}
  async start(): Promise<void> {}
  /** The first primary opens its pool with `create`, which creates the replica pools too. */
  async prepare(): Promise<void> {}
  configure(config: CandidateConfig, first: boolean): CandidateConfig {
    return { ...config, start: first ? 'open' : 'standby' };
  }
  afterPrimaryKilled(standby: DemoNode): void {
    standby.send('promote');
  }
  async stop(): Promise<void> {}
}

class EtcdPlan implements FailoverPlan {
  readonly takeoverHow = `its etcd lease (TTL ${ETCD_TTL_SECONDS} s) expires and node-b is elected`;
  readonly electionMs = ETCD_TTL_SECONDS * 1000;
  private etcd?: LocalEtcd;
  constructor(
    private readonly binary: string,
    private readonly dataDir: string,
  ) {}

  get summary(): string {
    return `etcd (FailoverCandidate, two candidates, lease TTL ${ETCD_TTL_SECONDS} s, ${this.binary} at ${this.etcd?.endpoint})`;
  }

  async start(say: (line: string) => void): Promise<void> {
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.etcd = await LocalEtcd.start(this.binary, this.dataDir);
    say(`etcd at ${this.etcd.endpoint} (pid ${this.etcd.pid}, ${this.binary})`);
  }

  /** A candidate promotes from the replicas, so they must hold the pool before the first election (as `rpmem create` on each target). */
  async prepare(replicas: string[], poolBytes: number): Promise<void> {
    await Promise.all(
      replicas.map(parseReplica).map(async ({ target, name }) => (await RemotePool.create(target, name, { size: poolBytes })).close()),
    );
  }

  configure(config: CandidateConfig): CandidateConfig {
    return { ...config, start: 'etcd', etcd: { endpoints: [this.etcd!.endpoint], ttlSeconds: ETCD_TTL_SECONDS } };
  }

  afterPrimaryKilled(): void {}

  async stop(): Promise<void> {
    await this.etcd?.stop();
  }
}

/** The etcd plan when a binary is found and RPMEM_DEMO_FAILOVER is not `promote`; else the promote plan, saying why. */
export function failoverPlan(base: string): FailoverPlan {
  if (process.env.RPMEM_DEMO_FAILOVER === 'promote') return new PromotePlan('promote (RPMEM_DEMO_FAILOVER=promote)');
  const binary = findEtcd();
  if (binary === undefined) {
    return new PromotePlan('promote: no etcd binary on PATH, so no automatic failover (README, Quickstart: apt-get install etcd-server)');
  }
  return new EtcdPlan(binary, path.join(base, 'etcd'));
}
