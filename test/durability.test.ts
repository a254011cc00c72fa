/**
 * Honest attestation (issue #13): every ack, Open, Stat and persist result says what a durable range
 * survives (pmem > page > emulated), and a requirement of a level is refused with
 * RPMEM_E_DURABILITY at open and per call, before anything is written.
 *
 * This machine has no persistent memory: MAP_SYNC fails on every file system here, so no test can
 * see `pmem` from a real mapping. The mapping from what the native layer reports (granularity,
 * isPmem) and the file system type to the level is tested as the pure function it is, and the real
 * mappings are checked to report isPmem false and the level that function gives.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { status as Status } from '@grpc/grpc-js';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { DURABILITY_LEVELS, Durability, durabilityOf, isVolatileFsType, meetsDurability } from '../src/storage/durability';
import { openMapping } from '../src/storage/native';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { fromWireDurability, fromWireDurabilityRequirement } from '../src/wire/conversions';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { Pool } from '../src/initiator/pool';
import { RemotePool } from '../src/initiator/remote-pool';
import { ReplicatedPool } from '../src/initiator/replicated-pool';
import { TargetClient } from '../src/initiator/target-client';
import { LyingTarget } from './helpers/lying-target';
import { SHM_DIR, tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';
import { grpcStatusOf } from '../src/wire/status';
import { wireStatus } from './helpers/rejection';

const POOL_BYTES = 1 << 20;

async function rejection(work: Promise<unknown>): Promise<RpmemError> {
  return work.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: RpmemError) => err,
  );
}

/** A directory on a file system backed by storage: os.tmpdir() unless that is a RAM file system, else the checkout's. */
function diskDir(prefix: string): string {
  for (const base of [os.tmpdir(), path.join(__dirname, '..', '..')]) {
    if (!isVolatileFsType(fs.statfsSync(base).type)) return tempDir(prefix, base);
  }
  throw new Error('no directory on a storage-backed file system to test page durability on');
}

describe('durability levels', () => {
  it('ranks pmem > page > emulated, each meeting itself and every level below', () => {
    expect(DURABILITY_LEVELS).to.deep.equal(['emulated', 'page', 'pmem']);
    const meets = (have: Durability): Durability[] => DURABILITY_LEVELS.filter((required) => meetsDurability(have, required));
    expect(meets('emulated')).to.deep.equal(['emulated']);
    expect(meets('page')).to.deep.equal(['emulated', 'page']);
    expect(meets('pmem')).to.deep.equal(['emulated', 'page', 'pmem']);
  });

  it('maps what a mapping reports to its level: cache-line is pmem only where MAP_SYNC succeeded, page is page only off a RAM file system', () => {
    const cases: Array<[Parameters<typeof durabilityOf>[0], Durability]> = [
      [{ granularity: 'cache-line', isPmem: true, volatileFs: false }, 'pmem'],
      [{ granularity: 'cache-line', isPmem: false, volatileFs: false }, 'emulated'],
      [{ granularity: 'cache-line', isPmem: false, volatileFs: true }, 'emulated'],
      [{ granularity: 'page', isPmem: true, volatileFs: false }, 'page'],
      [{ granularity: 'page', isPmem: false, volatileFs: false }, 'page'],
      [{ granularity: 'page', isPmem: false, volatileFs: true }, 'emulated'],
    ];
    for (const [facts, level] of cases) expect(durabilityOf(facts), JSON.stringify(facts)).to.equal(level);
    // linux/magic.h: TMPFS_MAGIC, RAMFS_MAGIC are RAM; EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC are not.
    expect([0x01021994, 0x858458f6, 0xef53, 0x58465342].map(isVolatileFsType)).to.deep.equal([true, true, false, false]);
  });

  it('decodes wire durability strictly: UNSPECIFIED as the floor (report) or none (requirement), undeclared values refused with stable codes', () => {
    expect([1, 2, 3, 'DURABILITY_PMEM'].map((v) => fromWireDurability('f', v))).to.deep.equal(['emulated', 'page', 'pmem', 'pmem']);
    expect([0, 'DURABILITY_UNSPECIFIED', undefined].map((v) => fromWireDurability('f', v))).to.deep.equal([
      'emulated',
      'emulated',
      'emulated',
    ]);
    expect(fromWireDurabilityRequirement(0)).to.equal(undefined);
    expect(fromWireDurabilityRequirement('DURABILITY_PAGE')).to.equal('page');
    for (const bad of [4, 9, -1, 'DURABILITY_BYTE']) {
      expect(() => fromWireDurability('PoolInfo.durability', bad))
        .to.throw(RpmemError)
        .with.property('code', ErrorCode.PROTOCOL);
      expect(() => fromWireDurabilityRequirement(bad))
        .to.throw(RpmemError)
        .with.property('code', ErrorCode.INVALID_ARGUMENT);
    }
  });

  it('RPMEM_E_DURABILITY travels as FAILED_PRECONDITION', () => {
    expect(grpcStatusOf(ErrorCode.DURABILITY)).to.equal(Status.FAILED_PRECONDITION);
  });

  it('real mappings here report isPmem false (no DAX on this machine) and the level durabilityOf gives', async () => {
    const places = [
      { dir: tempDir('dur-map', SHM_DIR), volatileFs: true },
      { dir: diskDir('dur-map'), volatileFs: false },
    ];
    for (const { dir, volatileFs } of places) {
      expect(isVolatileFsType(fs.statfsSync(dir).type), dir).to.equal(volatileFs);
      for (const granularity of ['cache-line', 'page'] as const) {
        const file = path.join(dir, `m-${granularity}`);
        const mapping = openMapping(file, { create: true, size: HEADER_BYTES + 4096, granularity });
        const facts = { granularity: mapping.granularity, isPmem: mapping.isPmem, volatileFs };
        await mapping.close();
        expect(facts.isPmem, file).to.equal(false);
        const pool = await Pool.create(path.join(dir, `p-${granularity}`), { size: 4096, granularity });
        expect(pool.durability, file).to.equal(durabilityOf(facts));
        await pool.close();
      }
    }
  });
});

describe('local Pool durability', () => {
  it('reports emulated on /dev/shm (either granularity) and page on disk at page granularity', async () => {
    const expected: Array<[string, 'cache-line' | 'page', Durability]> = [
      [tempDir('dur-local', SHM_DIR), 'cache-line', 'emulated'],
      [tempDir('dur-local', SHM_DIR), 'page', 'emulated'],
      [diskDir('dur-local'), 'cache-line', 'emulated'],
      [diskDir('dur-local'), 'page', 'page'],
    ];
    for (const [dir, granularity, level] of expected) {
      const pool = await Pool.create(path.join(dir, 'p'), { size: 4096, granularity });
      expect([pool.granularity, pool.durability], `${dir} ${granularity}`).to.deep.equal([granularity, level]);
      await pool.close();
    }
  });

  it('refuses to open a pool below requireDurability, closing it again, and opens one that meets it', async () => {
    const file = path.join(tempDir('dur-local', SHM_DIR), 'p');
    await (await Pool.create(file, { size: 4096, granularity: 'cache-line' })).close();
    const err = await rejection(Pool.open(file, { granularity: 'cache-line', requireDurability: 'pmem' }));
    expect(err.code).to.equal(ErrorCode.DURABILITY);
    expect(err.message).to.include('gives emulated durability').and.include('pmem is required');
    expect((await rejection(Pool.open(file, { granularity: 'page', requireDurability: 'page' }))).code).to.equal(ErrorCode.DURABILITY);
    // The refused opens released the file: the exclusive lock is free for this one.
    const pool = await Pool.open(file, { granularity: 'cache-line', requireDurability: 'emulated' });
    await pool.close();
    const disk = path.join(diskDir('dur-local'), 'p');
    await (await Pool.create(disk, { size: 4096, granularity: 'page', requireDurability: 'page' })).close();
    expect(
      (await rejection(Pool.create(path.join(diskDir('dur-local'), 'q'), { size: 4096, granularity: 'page', requireDurability: 'pmem' })))
        .code,
    ).to.equal(ErrorCode.DURABILITY);
  });

  it('rejects a persist requiring more than the pool gives without flushing it, and persists one that meets it', async () => {
    const file = path.join(diskDir('dur-local'), 'p');
    const pool = await Pool.create(file, { size: 4096, granularity: 'page' });
    pool.buffer.write('required', 0);
    const err = await rejection(pool.persist(0, 8, { require: 'pmem' }));
    expect(err.code).to.equal(ErrorCode.DURABILITY);
    expect(err.message).to.include('gives page durability').and.include('pmem is required');
    expect((await rejection(pool.persist(0, 8, { require: 'bogus' as Durability }))).code).to.equal(ErrorCode.INVALID_ARGUMENT);
    await pool.persist(0, 8, { require: 'page' });
    expect(
      fs
        .readFileSync(file)
        .subarray(HEADER_BYTES, HEADER_BYTES + 8)
        .toString(),
    ).to.equal('required');
    await pool.close();
  });
});

describe('durability through rpmemd', function () {
  /** Forced cache-line on /dev/shm, page on /dev/shm, forced cache-line on disk, page on disk. */
  let shmCache: TestTarget;
  let shmPage: TestTarget;
  let diskCache: TestTarget;
  let diskPage: TestTarget;
  let all: Array<[TestTarget, Durability, string]>;

  before(async () => {
    [shmCache, shmPage, diskCache, diskPage] = await Promise.all([
      TestTarget.start({ granularity: 'cache-line', poolDir: tempDir('dur-t', SHM_DIR) }),
      TestTarget.start({ granularity: 'page', poolDir: tempDir('dur-t', SHM_DIR), keepStderr: true }),
      TestTarget.start({ granularity: 'cache-line', poolDir: diskDir('dur-t') }),
      TestTarget.start({ granularity: 'page', poolDir: diskDir('dur-t'), keepStderr: true }),
    ]);
    all = [
      [shmCache, 'emulated', 'cache-line on /dev/shm'],
      [shmPage, 'emulated', 'page on /dev/shm'],
      [diskCache, 'emulated', 'cache-line on disk'],
      [diskPage, 'page', 'page on disk'],
    ];
  });

  after(async () => {
    await Promise.all([shmCache, shmPage, diskCache, diskPage].map((t) => t?.stop()));
  });

  it("reports each target's level in Create/Open, Stat, List and every ack", async () => {
    for (const [target, level, what] of all) {
      const pool = await RemotePool.create(target.address, 'reported', { size: POOL_BYTES });
      expect([pool.durability, pool.openInfo.durability], what).to.deep.equal([level, level]);
      const results = await Promise.all([0, 4096, 8192].map((at) => pool.persist(at, Buffer.alloc(64, 1))));
      expect(
        results.map((r) => r.durability),
        what,
      ).to.deep.equal([level, level, level]);
      expect((await RemotePool.stat(target.address, 'reported')).durability, what).to.equal(level);
      expect(
        (await RemotePool.list(target.address)).map((p) => p.durability),
        what,
      ).to.deep.equal([level]);
      await pool.close();
    }
  });

  it('rpmemd warns at start when its pool dir is on a RAM file system, and not when it is on disk', () => {
    const warning = 'the pool dir is on a RAM file system: every pool here is emulated';
    expect(shmPage.fullLog).to.include(warning);
    expect(diskPage.fullLog).to.not.include(warning);
  });

  it('refuses an open requiring pmem on every target here, leaving no handle, and opens at the level each gives', async () => {
    for (const [target, level, what] of all) {
      await (await RemotePool.create(target.address, 'at-open', { size: POOL_BYTES })).close();
      const err = await rejection(RemotePool.open(target.address, 'at-open', { requireDurability: 'pmem' }));
      expect(err.code, what).to.equal(ErrorCode.DURABILITY);
      expect(wireStatus(err)).to.equal(Status.FAILED_PRECONDITION);
      expect(err.message, what).to.include(`gives ${level} durability`).and.include('pmem is required');
      expect((await RemotePool.stat(target.address, 'at-open')).open, what).to.equal(false);
      const opened = await RemotePool.open(target.address, 'at-open', { requireDurability: level });
      await opened.persist(0, Buffer.from('meets it'));
      await opened.close();
    }
    expect((await rejection(RemotePool.open(shmPage.address, 'at-open', { requireDurability: 'page' }))).code).to.equal(
      ErrorCode.DURABILITY,
    );
  });

  it('the target itself refuses the open (a stock client, no initiator check), and an undeclared require_durability as INVALID_ARGUMENT', async () => {
    const client = new TargetClient(diskPage.address);
    try {
      await (await RemotePool.create(diskPage.address, 'raw', { size: POOL_BYTES })).close();
      const open = (requireDurability: unknown): Promise<unknown> =>
        client.open({ protocolVersion: PROTOCOL_VERSION, name: 'raw', requireDurability: requireDurability as 'DURABILITY_PMEM' });
      const refused = await rejection(open('DURABILITY_PMEM'));
      expect(refused.code).to.equal(ErrorCode.DURABILITY);
      expect(refused.message).to.include('pool raw gives page durability');
      for (const bad of [4, 99]) {
        const err = await rejection(open(bad));
        expect(err.code, String(bad)).to.equal(ErrorCode.INVALID_ARGUMENT);
        expect(err.message).to.include(`got ${bad}`);
      }
      expect((await RemotePool.stat(diskPage.address, 'raw')).open).to.equal(false);
      // Positive control: a requirement the pool meets opens a writer handle.
      const { handle } = (await open('DURABILITY_PAGE')) as { handle: string };
      expect((await RemotePool.stat(diskPage.address, 'raw')).open).to.equal(true);
      await client.closeHandle({ handle });
    } finally {
      client.close();
    }
  });

  it('rejects a persist requiring more than the target gives without sending it, and persists one that meets it', async () => {
    const pool = await RemotePool.create(diskPage.address, 'per-call', { size: POOL_BYTES });
    await pool.persist(0, Buffer.from('before'));
    const err = await rejection(pool.persist(0, Buffer.from('pmem!!'), { require: 'pmem' }));
    expect(err.code).to.equal(ErrorCode.DURABILITY);
    expect(err.message).to.include('gives page durability').and.include('pmem is required');
    expect(pool.durableSeq).to.equal(1n);
    expect((await pool.read(0, 6)).toString()).to.equal('before');
    const result = await pool.persist(0, Buffer.from('page!!'), { require: 'page' });
    expect(result).to.include({ seq: 2n, granularity: 'page', durability: 'page' });
    expect((await pool.read(0, 6)).toString()).to.equal('page!!');
    await pool.close();
    const shm = await RemotePool.create(shmCache.address, 'per-call', { size: POOL_BYTES });
    expect((await rejection(shm.persist(0, Buffer.from('x'), { require: 'page' }))).code).to.equal(ErrorCode.DURABILITY);
    expect((await shm.persist(0, Buffer.from('x'), { require: 'emulated' })).durability).to.equal('emulated');
    await shm.close();
  });

  describe('ReplicatedPool', () => {
    let local: string;
    let replicas: [string, string];

    before(async () => {
      local = path.join(diskDir('dur-rp'), 'primary.pool');
      replicas = [`${shmCache.address}/rp`, `${diskPage.address}/rp`];
      const pool = await ReplicatedPool.open(local, { replicas, granularity: 'page', create: { size: POOL_BYTES } });
      await pool.close();
    });

    it("reports the local level and each replica's in the result and in status()", async () => {
      const pool = await ReplicatedPool.open(local, { replicas, granularity: 'page' });
      try {
        pool.buffer.write('levels', 0);
        const result = await pool.persist(0, 6);
        expect([result.local, result.localDurability]).to.deep.equal(['page', 'page']);
        const byReplica = Object.fromEntries(result.replicas.map((r) => [r.replica, [r.granularity, r.durability]]));
        expect(byReplica).to.deep.equal({ [replicas[0]]: ['cache-line', 'emulated'], [replicas[1]]: ['page', 'page'] });
        expect(pool.status().map((s) => s.durability)).to.deep.equal(['emulated', 'page']);
        expect(pool.durability).to.equal('page');
      } finally {
        await pool.close();
      }
    });

    it('per call, counts only acks from replicas that give the level, and rejects at once when too few up replicas do', async () => {
      const seqs = (): Promise<bigint[]> =>
        Promise.all(replicas.map((spec) => RemotePool.stat(spec.split('/')[0], 'rp').then((i) => i.durableSeq)));
      const pool = await ReplicatedPool.open(local, { replicas, granularity: 'page' });
      let before: bigint[];
      try {
        pool.buffer.write('first!', 0);
        const first = await pool.persist(0, 6);
        before = await seqs();
        pool.buffer.write('refuse', 0);
        const err = await rejection(pool.persist(0, 6, { require: 'page' }));
        expect(err.code).to.equal(ErrorCode.DURABILITY);
        expect(err.message)
          .to.include('needs 2 replica ack(s) at page durability')
          .and.include(`${replicas[0]} gives emulated`)
          .and.include(`${replicas[1]} gives page`);
        expect((await rejection(pool.persist(0, 6, { require: 'pmem' }))).code).to.equal(ErrorCode.DURABILITY);
        // With one ack required both replicas are sent the range, but only the page replica's ack may count.
        pool.buffer.write('second', 0);
        const counted = await pool.persist(0, 6, { ack: 1, require: 'page' });
        // The refused persists took no LSN.
        expect(counted.lsn).to.equal(first.lsn + 1n);
        expect(counted.replicas.map((r) => [r.replica, r.durability])).to.deep.equal([[replicas[1], 'page']]);
      } finally {
        await pool.close();
      }
      // Closing drained both streams: each replica got exactly the one range after `first`, the refused ones never.
      expect(await seqs()).to.deep.equal(before.map((s) => s + 1n));
      for (const spec of replicas) {
        const copy = await RemotePool.open(spec.split('/')[0], 'rp', { readOnly: true });
        expect((await copy.read(0, 6)).toString(), spec).to.equal('second');
        await copy.close();
      }
    });

    it('refuses to open when a replica or the local pool is below its requirement, and opens when each meets its own', async () => {
      const all = await rejection(
        ReplicatedPool.open(local, { replicas, granularity: 'page', requireReplicaDurability: 'page', openWaitMs: 10_000 }),
      );
      expect(all.code).to.equal(ErrorCode.DURABILITY);
      expect(all.message).to.include('pool rp').and.include('gives emulated durability');
      const named = await rejection(
        ReplicatedPool.open(local, { replicas, granularity: 'page', requireReplicaDurability: { [replicas[1]]: 'pmem' } }),
      );
      expect(named.code).to.equal(ErrorCode.DURABILITY);
      expect(named.message).to.include('gives page durability');
      expect((await rejection(ReplicatedPool.open(local, { replicas, granularity: 'page', requireDurability: 'pmem' }))).code).to.equal(
        ErrorCode.DURABILITY,
      );
      expect(
        (await rejection(ReplicatedPool.open(local, { replicas, requireReplicaDurability: { 'elsewhere:1/x': 'page' } }))).code,
      ).to.equal(ErrorCode.INVALID_ARGUMENT);
      const pool = await ReplicatedPool.open(local, {
        replicas,
        granularity: 'page',
        requireDurability: 'page',
        requireReplicaDurability: { [replicas[0]]: 'emulated', [replicas[1]]: 'page' },
      });
      try {
        expect(pool.status().map((s) => s.state)).to.deep.equal(['up', 'up']);
        expect((await pool.persist(0, 6)).replicas).to.have.length(2);
      } finally {
        await pool.close();
      }
    });
  });
});

describe('durability a target reports that this build does not know', () => {
  let liar: LyingTarget;

  before(async () => {
    liar = await LyingTarget.start();
  });

  after(async () => {
    await liar?.stop();
  });

  it('refuses an undeclared PoolInfo.durability at Open and Stat with RPMEM_E_PROTOCOL; a declared one opens', async () => {
    for (const bad of [4, 9]) {
      expect((await rejection(RemotePool.open(liar.address, `info-${bad}`))).code, String(bad)).to.equal(ErrorCode.PROTOCOL);
      const err = await rejection(RemotePool.stat(liar.address, `info-${bad}`));
      expect(err.code).to.equal(ErrorCode.PROTOCOL);
      expect(err.message).to.include(`PoolInfo.durability must be one of`).and.include(`got ${bad}`);
    }
    const pool = await RemotePool.open(liar.address, 'info-3');
    expect(pool.durability).to.equal('pmem');
    await pool.close();
  });

  it('fails the stream at an ack with an undeclared durability or one that contradicts Open, resolving nothing it covers', async () => {
    const control = await RemotePool.open(liar.address, 'honest');
    expect((await control.persist(0, Buffer.from('ok'))).durability).to.equal('page');
    await control.close();
    for (const [name, message] of [
      ['ack-9', 'PersistAck.durability must be one of'],
      ['ack-1', 'reported page durability at open and emulated in the ack of seq 1'],
      ['ack-3', 'reported page durability at open and pmem in the ack of seq 1'],
    ]) {
      const pool = await RemotePool.open(liar.address, name);
      const err = await rejection(pool.persist(0, Buffer.from('lie')));
      expect(err.code, name).to.equal(ErrorCode.PROTOCOL);
      expect(err.message, name).to.include(message);
      expect(pool.durableSeq, name).to.equal(0n);
      expect((await rejection(pool.persist(0, Buffer.from('again')))).code, name).to.equal(ErrorCode.FAILED);
      await pool.close();
    }
  });
});
