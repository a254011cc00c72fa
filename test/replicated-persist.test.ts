/**
 * The counter-settled ReplicatedPool.persist against one real rpmemd (127.0.0.2) and, where a
 * replica must stay down, an address nothing listens on. Dirty-map writes are held back by a test
 * seam around the replica's DirtyMap.mark, and sends are observed at the replica's RemotePool, so
 * every check is an order of events, never a duration (docs/design.md I3, I4).
 */
import { expect } from 'chai';
import * as path from 'path';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import type { DirtyMap } from '../src/initiator/dirty-map';
import type { RemotePool } from '../src/initiator/remote-pool';
import type { PersistResult, RangeSink } from '../src/initiator/persist-stream';
import type { Replica } from '../src/initiator/replica';
import { ReplicatedPool, ReplicatedPoolOptions } from '../src/initiator/replicated-pool';
import { SHM_DIR, tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';

const POOL_BYTES = 8 * 1024 * 1024;
const BLOCK_BYTES = 64 * 1024;
const NAME = 'counted';
/** Nothing listens here: a replica at this address never comes up. */
const UNREACHABLE = '127.0.0.5:1/never';

function replicasOf(rp: ReplicatedPool): Replica[] {
  return (rp as unknown as { replicas: Replica[] }).replicas;
}

/** Holds back every dirty-map write `replica` starts from now on, each until released. */
function holdMarks(replica: Replica): { held: Array<{ durable: Promise<void>; release: () => void }> } {
  const dirty = (replica as unknown as { dirty: DirtyMap }).dirty;
  const mark = dirty.mark.bind(dirty);
  const held: Array<{ durable: Promise<void>; release: () => void }> = [];
  dirty.mark = (first: number, last: number): Promise<void> | undefined => {
    const written = mark(first, last);
    if (written === undefined) return undefined;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const durable = written.then(() => gate);
    held.push({ durable, release });
    return durable;
  };
  return { held };
}

/** Records the LSN of every range `replica` sends from now on; `fail` makes the next sends reject. */
function watchSends(replica: Replica): { lsns: bigint[]; acks: Array<Promise<PersistResult>>; failNext: number } {
  const remote = replica.remote as RemotePool;
  const persistTo = remote.persistTo.bind(remote);
  const seen = { lsns: [] as bigint[], acks: [] as Array<Promise<PersistResult>>, failNext: 0 };
  // The recorded promises are the test's own: handled here, so a failed send is no unhandled rejection.
  const record = (ack: Promise<PersistResult>): void => {
    ack.catch(() => undefined);
    seen.acks.push(ack);
  };
  remote.persistTo = (offset: number, data: Buffer, lsn: bigint, crc: number, sink: RangeSink): void => {
    seen.lsns.push(lsn);
    if (seen.failNext > 0) {
      seen.failNext--;
      const err = new RpmemError(ErrorCode.UNAVAILABLE, 'test: send failed');
      record(Promise.reject(err));
      queueMicrotask(() => sink.failed(err));
      return;
    }
    record(
      new Promise<PersistResult>((resolve, reject) =>
        persistTo(offset, data, lsn, crc, {
          acked: (seq, granularity, durability) => (
            resolve({ seq: BigInt(seq), granularity, durability }),
            sink.acked(seq, granularity, durability)
          ),
          failed: (e) => (reject(e), sink.failed(e)),
        }),
      ),
    );
  };
  return seen;
}

/** Lets every pending promise callback run (a macrotask turn after the microtask queue empties). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether `p` settled yet. */
function track<T>(p: Promise<T>): { settled: boolean; p: Promise<T> } {
  const t = { settled: false, p };
  p.then(
    () => (t.settled = true),
    () => (t.settled = true),
  );
  return t;
}

describe('replicated persist (counted settlement)', function () {
  let target: TestTarget;
  let dir: string;
  let open: ReplicatedPool[];

  beforeEach(async () => {
    target = await TestTarget.start({ host: '127.0.0.2' });
    dir = tempDir('replicated-persist', SHM_DIR);
    open = [];
  });

  afterEach(async () => {
    await Promise.all(open.map((rp) => rp.close().catch(() => undefined)));
    await target.stop();
  });

  async function openPool(replicas: string[], extra: Partial<ReplicatedPoolOptions> = {}): Promise<ReplicatedPool> {
    const rp = await ReplicatedPool.open(path.join(dir, 'primary'), {
      replicas,
      ack: 'all',
      create: { size: POOL_BYTES },
      granularity: 'cache-line',
      callTimeoutMs: 1000,
      ackTimeoutMs: 5000,
      // Marks stay set for the whole test: blocks touched once are "already marked".
      activityWindowMs: 600_000,
      reconnect: { initialMs: 50, maxMs: 300 },
      openWaitMs: 30_000,
      ...extra,
    });
    open.push(rp);
    await waitFor(() => replicasOf(rp)[0].state === 'up', 30_000, 'the first replica up');
    return rp;
  }

  it('holds sends behind a pending dirty mark and sends them in LSN order (marked and unmarked blocks mixed)', async () => {
    const rp = await openPool([`${target.address}/${NAME}`]);
    for (const b of [0, 1, 2, 3]) await rp.persist(b * BLOCK_BYTES, 64);
    const [replica] = replicasOf(rp);
    const marks = holdMarks(replica);
    const sends = watchSends(replica);

    const p0 = await rp.persist(0, 100); // marked block: straight to the stream
    expect(sends.lsns).to.deep.equal([p0.lsn]);

    const issued = [10, 1, 11, 2, 3].map((b) => track(rp.persist(b * BLOCK_BYTES + 8, 100)));
    expect(marks.held, 'one dirty-map write per unmarked block').to.have.length(2);
    expect(sends.lsns, 'nothing goes out behind the pending mark of block 10').to.deep.equal([p0.lsn]);

    // The later mark (block 11) becomes durable first: still nothing may overtake block 10's range.
    marks.held[1].release();
    await marks.held[1].durable;
    await turn();
    expect(sends.lsns).to.deep.equal([p0.lsn]);
    expect(issued.map((t) => t.settled)).to.deep.equal([false, false, false, false, false]);

    marks.held[0].release();
    const results = await Promise.all(issued.map((t) => t.p));
    const lsns = results.map((r) => r.lsn);
    expect(lsns.every((lsn, i) => i === 0 || lsn === lsns[i - 1] + 1n)).to.equal(true);
    expect(sends.lsns).to.deep.equal([p0.lsn, ...lsns]);
    expect(results.every((r) => r.replicas.length === 1)).to.equal(true);
  });

  it('does not resolve before the dirty mark of a down replica is durable, even with its quorum acked', async () => {
    const rp = await openPool([`${target.address}/${NAME}`, UNREACHABLE], { ack: 1 });
    const [up, down] = replicasOf(rp);
    expect(down.state).to.not.equal('up');
    const marks = holdMarks(down);
    const sends = watchSends(up);

    const p = track(rp.persist(20 * BLOCK_BYTES, 4096));
    expect(marks.held).to.have.length(1);
    await waitFor(() => sends.acks.length === 1, 10_000, 'the up replica to be sent the range');
    await sends.acks[0];
    await turn();
    expect(p.settled, 'resolved while the down replica had no durable mark of the range').to.equal(false);

    marks.held[0].release();
    const result = await p.p;
    expect(result.replicas.map((r) => r.replica)).to.deep.equal([up.spec]);
    expect(down.dirtyBlocks).to.be.at.least(1);
  });

  it('rejects with RPMEM_E_QUORUM as soon as the policy cannot be met, without waiting for a pending mark', async () => {
    const rp = await openPool([`${target.address}/${NAME}`, UNREACHABLE], { ack: 1 });
    const [up, down] = replicasOf(rp);
    const marks = holdMarks(down);
    const sends = watchSends(up);
    sends.failNext = 1;

    const err = await rp.persist(30 * BLOCK_BYTES, 4096).catch((e: RpmemError) => e);
    expect((err as RpmemError).code).to.equal(ErrorCode.QUORUM);
    expect(marks.held).to.have.length(1);
    marks.held[0].release();
    // The pool is still usable, and a per-call policy of 0 needs no ack at all.
    expect((await rp.persist(30 * BLOCK_BYTES, 4096)).replicas).to.have.length(1);
    expect((await rp.persist(30 * BLOCK_BYTES, 4096, { ack: 0 })).replicas).to.have.length(0);
  });

  it('a failed ack the policy does not need never surfaces as an unhandled rejection', async () => {
    const rp = await openPool([`${target.address}/${NAME}`]);
    await rp.persist(0, 64);
    const sends = watchSends(replicasOf(rp)[0]);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      sends.failNext = 3;
      const results = await Promise.all([0, 1, 2].map(() => rp.persist(0, 64, { ack: 0 })));
      expect(results.every((r) => r.replicas.length === 0)).to.equal(true);
      // A dropped persist that fails (its ack was required) is not reported as unhandled either.
      sends.failNext = 1;
      void rp.persist(0, 64);
      await rp.drain();
      await turn();
      await turn();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).to.deep.equal([]);
  });

  it('stamps acknowledgedNs before the lease check that lets the persist resolve (I8: a pause after it cannot make an ack look later)', async () => {
    const rp = await openPool([`${target.address}/${NAME}`]);
    const owner = rp as unknown as { fencedError: () => unknown; persistSettled: (p: unknown, lsn: bigint) => void };
    let lastCheck = -1n;
    const checkBeforeSettling = new Map<bigint, bigint>();
    const fencedError = owner.fencedError.bind(rp);
    owner.fencedError = () => ((lastCheck = process.hrtime.bigint()), fencedError());
    const persistSettled = owner.persistSettled.bind(rp);
    owner.persistSettled = (p, lsn) => {
      checkBeforeSettling.set(lsn, lastCheck);
      persistSettled(p, lsn);
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => rp.persist(i * 4096, 4096)));
    for (const r of results) {
      const check = checkBeforeSettling.get(r.lsn);
      expect(check, `persist ${r.lsn} settled after a lease check`).to.not.equal(undefined);
      expect(r.acknowledgedNs <= check!, `ack time ${r.acknowledgedNs} read before the check at ${check}`).to.equal(true);
    }
  });
});
