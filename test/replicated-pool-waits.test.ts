/**
 * ReplicatedPool's waiting and self-fencing surface: listeners that see what happens inside open(),
 * waitForQuorum after RPMEM_E_QUORUM, and the ack deadline a leased primary sets (docs/design.md I8).
 */
import { expect } from 'chai';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { ReplicatedPool, ReplicatedPoolOptions } from '../src/initiator/replicated-pool';
import type { ResyncDone } from '../src/initiator/replica';
import { SHM_DIR, tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';

const POOL_BYTES = 1024 * 1024;

describe('ReplicatedPool waits and deadlines', function () {
  this.timeout(60_000);
  let targets: TestTarget[];
  let dir: string;
  const open: ReplicatedPool[] = [];

  function options(extra: Partial<ReplicatedPoolOptions> = {}): ReplicatedPoolOptions {
    return {
      replicas: targets.map((t) => `${t.address}/w`),
      ack: 'majority',
      create: { size: POOL_BYTES },
      granularity: 'cache-line',
      ackTimeoutMs: 1000,
      callTimeoutMs: 1000,
      reconnect: { initialMs: 50, maxMs: 200 },
      ...extra,
    };
  }

  async function openPool(extra: Partial<ReplicatedPoolOptions> = {}): Promise<ReplicatedPool> {
    const pool = await ReplicatedPool.open(path.join(dir, 'primary'), options(extra));
    open.push(pool);
    return pool;
  }

  beforeEach(async () => {
    dir = tempDir('waits', SHM_DIR);
    targets = await Promise.all([2, 3, 4].map((i) => TestTarget.start({ host: `127.0.0.${i}` })));
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close().catch(() => undefined)));
    await Promise.all(targets.map((t) => t.stop()));
  });

  it("attaches 'on' listeners before open connects, so resyncs finished inside open are seen", async () => {
    const seen: ResyncDone[] = [];
    const ups: string[] = [];
    const pool = await openPool({
      ack: 'all',
      on: { 'resync-done': (p) => seen.push(p), 'replica-up': ({ replica }) => ups.push(replica) },
    });
    // ack 'all' makes open wait for every replica: each one's first (full) resync ended inside it.
    expect(pool.status().every((s) => s.state === 'up')).to.equal(true);
    expect(seen.map((p) => p.replica).sort()).to.deep.equal(options().replicas.slice().sort());
    expect(seen.every((p) => p.full)).to.equal(true);
    expect(ups.sort()).to.deep.equal(options().replicas.slice().sort());
  });

  it('waitForQuorum resolves once the policy can be met again, and times out while it cannot', async () => {
    const pool = await openPool({ ack: 'all' });
    await targets[1].kill();
    await waitFor(() => pool.status()[1].state !== 'up', 10_000, 'the killed replica to go down');
    const err = await pool.persist(0, 8).catch((e: RpmemError) => e);
    expect((err as RpmemError).code).to.equal(ErrorCode.QUORUM);
    const timedOut = await pool.waitForQuorum({ timeoutMs: 300 }).catch((e: RpmemError) => e);
    expect((timedOut as RpmemError).code).to.equal(ErrorCode.TIMEOUT);
    const waited = pool.waitForQuorum({ timeoutMs: 20_000 });
    await targets[1].restart();
    await waited;
    expect(pool.status().every((s) => s.state === 'up')).to.equal(true);
    expect((await pool.persist(0, 8)).replicas).to.have.length(3);
  });

  it('the ack deadline rejects a persist whose acks arrive after it, and every later one (I8)', async () => {
    const pool = await openPool();
    await waitFor(() => pool.status().every((s) => s.state === 'up'), 10_000, 'every replica up');
    expect((await pool.persist(0, 8)).replicas.length).to.be.at.least(2);
    const fenced: string[] = [];
    pool.on('fenced', ({ replica }) => fenced.push(replica));
    // Two of three paused: the persist cannot resolve before the deadline passes.
    targets[1].signal('SIGSTOP');
    targets[2].signal('SIGSTOP');
    try {
      const pending = pool.persist(64, 8).then(
        () => 'resolved',
        (e: RpmemError) => e.code,
      );
      pool.setAckDeadline(performance.now() + 100);
      await new Promise((resolve) => setTimeout(resolve, 300));
      targets[1].signal('SIGCONT');
      targets[2].signal('SIGCONT');
      expect(await pending).to.equal(ErrorCode.FENCED);
      expect(fenced).to.deep.equal(['lease']);
      const later = await pool.persist(128, 8).catch((e: RpmemError) => e);
      expect((later as RpmemError).code).to.equal(ErrorCode.FENCED);
      expect(pool.status().map((s) => s.state)).to.not.include('resyncing');
    } finally {
      targets[1].signal('SIGCONT');
      targets[2].signal('SIGCONT');
    }
  });

  it('without a deadline passing, the same paused replicas only delay the persist (positive control)', async () => {
    const pool = await openPool({ ackTimeoutMs: 5000 });
    await waitFor(() => pool.status().every((s) => s.state === 'up'), 10_000, 'every replica up');
    pool.setAckDeadline(performance.now() + 60_000);
    targets[1].signal('SIGSTOP');
    targets[2].signal('SIGSTOP');
    const pending = pool.persist(64, 8);
    await new Promise((resolve) => setTimeout(resolve, 300));
    targets[1].signal('SIGCONT');
    targets[2].signal('SIGCONT');
    expect((await pending).replicas.length).to.be.at.least(2);
  });
});
