/**
 * Replicated pools against three real rpmemd processes on 127.0.0.2-4: write policies, degraded
 * mode, incremental and checksum resync, promotion with fencing. Each test checks one of
 * docs/design.md I3-I6.
 */
import { expect } from 'chai';
import { newClaim } from '../src/storage/epoch-claim';
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import type { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { ReplicatedPool, ReplicatedPoolEvents, ReplicatedPoolOptions } from '../src/initiator/replicated-pool';
import { promote } from '../src/initiator/promote';
import { SHM_DIR, tempDir } from './helpers/setup';
import { SLOTS, stampAt } from './helpers/stamps';
import { TcpProxy } from './helpers/tcp-proxy';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';

const POOL_BYTES = 64 * 1024 * 1024;
const BLOCK_BYTES = 64 * 1024;
/** Where the ranges a killed replica misses go; the pool's other 48 MiB are written before only. */
const RESYNC_REGION_BYTES = 16 * 1024 * 1024;
/** Detection of a hung replica must come within this many ack deadlines (generous: the machine is shared and noisy). */
const DETECTION_DEADLINES = 10;
const NAME = 'replicated';
/** Persists the primary process keeps in flight. */
const PRIMARY_INFLIGHT = 16;

function options(replicas: string[], extra: Partial<ReplicatedPoolOptions> = {}): ReplicatedPoolOptions {
  return {
    replicas,
    ack: 'majority',
    create: { size: POOL_BYTES },
    granularity: 'cache-line',
    ackTimeoutMs: 1000,
    callTimeoutMs: 1000,
    activityWindowMs: 50,
    reconnect: { initialMs: 50, maxMs: 300 },
    openWaitMs: 30_000,
    ...extra,
  };
}

/** Resolves with the next `event` whose payload satisfies `match`; rejects after `timeoutMs`. */
function nextEvent<E extends keyof ReplicatedPoolEvents>(
  rp: ReplicatedPool,
  event: E,
  match: (p: ReplicatedPoolEvents[E][0]) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<ReplicatedPoolEvents[E][0]> {
  // Generic over the event name, which the typed on/off cannot resolve: the untyped emitter.
  const emitter: EventEmitter = rp;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (p: ReplicatedPoolEvents[E][0]): void => {
      if (!match(p)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(p);
    };
    emitter.on(event, listener);
  });
}

async function allUp(rp: ReplicatedPool, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => rp.status().every((s) => s.state === 'up'), timeoutMs, 'every replica up');
}

/** Persists `count` random ranges (1 B to 8 KiB) inside `[0, regionBytes)`; returns the blocks touched. */
async function randomPersists(rp: ReplicatedPool, count: number, regionBytes: number, onEach?: (i: number) => void): Promise<Set<number>> {
  const touched = new Set<number>();
  const inflight = new Set<Promise<unknown>>();
  const busy = new Set<number>();
  for (let i = 0; i < count; i++) {
    const length = 1 + crypto.randomInt(8192);
    const offset = crypto.randomInt(regionBytes - length);
    const blocks = [Math.floor(offset / BLOCK_BYTES), Math.floor((offset + length - 1) / BLOCK_BYTES)];
    // Never store into a block with a persist in flight (the buffer contract).
    if (blocks.some((b) => busy.has(b))) await Promise.all(inflight);
    crypto.randomFillSync(rp.buffer, offset, length);
    blocks.forEach((b) => (touched.add(b), busy.add(b)));
    const p = rp.persist(offset, length).finally(() => blocks.forEach((b) => busy.delete(b)));
    inflight.add(p);
    void p.then(
      () => inflight.delete(p),
      () => inflight.delete(p),
    );
    onEach?.(i);
    if (inflight.size >= 32) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return touched;
}

function dataOf(file: string): Buffer {
  return fs.readFileSync(file).subarray(HEADER_BYTES);
}

function expectIdentical(localPath: string, targets: TestTarget[]): void {
  const local = dataOf(localPath);
  for (const t of targets) {
    expect(dataOf(t.poolPath(NAME)).equals(local), `replica ${t.address} differs from the primary`).to.equal(true);
  }
}

describe('replicated pools', function () {
  let targets: TestTarget[];
  let specs: string[];
  let dir: string;
  let open: ReplicatedPool[];

  beforeEach(async () => {
    targets = await Promise.all([2, 3, 4].map((i) => TestTarget.start({ host: `127.0.0.${i}` })));
    specs = targets.map((t) => `${t.address}/${NAME}`);
    dir = tempDir('replicated', SHM_DIR);
    open = [];
  });

  afterEach(async () => {
    await Promise.all(open.map((rp) => rp.close().catch(() => undefined)));
    await Promise.all(targets.map((t) => t.stop()));
  });

  async function openPool(extra: Partial<ReplicatedPoolOptions> = {}, file = path.join(dir, 'primary')): Promise<ReplicatedPool> {
    const rp = await ReplicatedPool.open(file, options(extra.replicas ?? specs, extra));
    open.push(rp);
    await allUp(rp);
    return rp;
  }

  it('majority: survives a SIGKILLed replica mid-stream, then resyncs only what it missed (I4, I6)', async () => {
    const rp = await openPool();
    await randomPersists(rp, 200, POOL_BYTES);
    await rp.drain();
    // Acked by all three, and their blocks leave the activity window: none of them is to be resynced.
    await new Promise((r) => setTimeout(r, 300));
    const killed = specs[2];
    let down = false;
    let downEvents = 0;
    rp.once('replica-down', () => (down = true));
    rp.on('replica-down', (p) => p.replica === killed && downEvents++);
    // Stopped before the stream, killed in the middle of it: the replica acks none of these ranges,
    // so the test knows exactly which blocks it missed, those in flight at the kill included.
    targets[2].signal('SIGSTOP');
    const missed = await randomPersists(rp, 3000, RESYNC_REGION_BYTES, (i) => {
      if (i === 500) void targets[2].kill();
    });
    expect(down).to.equal(true);
    expect(rp.status().find((s) => s.replica === killed)?.state).to.be.oneOf(['down', 'connecting']);
    // Everything persisted after the loss is on the two survivors, byte for byte.
    await rp.drain();
    expectIdentical(path.join(dir, 'primary'), targets.slice(0, 2));
    const extra = await randomPersists(rp, 200, 4 * 1024 * 1024);
    extra.forEach((b) => missed.add(b));

    const done = nextEvent(rp, 'resync-done', (p) => p.replica === killed);
    await targets[2].restart();
    const resync = await done;
    await allUp(rp);
    expect(downEvents, 'replica-down once per outage, not per reconnect attempt').to.equal(1);
    expect(resync.full).to.equal(false);
    // Exactly the missed blocks, none of the 200 from before (which ones: the byte comparison below).
    expect(resync.blocksDone).to.equal(missed.size);
    expect(resync.bytesCopied).to.equal(missed.size * BLOCK_BYTES);
    await rp.close();
    expectIdentical(path.join(dir, 'primary'), targets);
  });

  it("ack 'all': losing a replica rejects new persists with RPMEM_E_QUORUM, never hangs", async () => {
    const rp = await openPool({ ack: 'all' });
    rp.buffer.write('before', 0);
    expect((await rp.persist(0, 6)).replicas).to.have.length(3);
    await targets[1].kill();
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        Promise.race([
          rp.persist(i * 100, 10).then(
            () => 'resolved',
            (e: RpmemError) => e.code,
          ),
          new Promise((r) => setTimeout(() => r('hung'), 10_000)),
        ]),
      ),
    );
    expect(
      outcomes.every((o) => o === ErrorCode.QUORUM),
      String(outcomes),
    ).to.equal(true);
    // A per-call policy that can still be met goes through.
    expect((await rp.persist(0, 6, { ack: 'majority' })).replicas.length).to.be.at.least(2);
  });

  it('refuses a range outside the pool before replicating or marking anything', async () => {
    const rp = await openPool({ activityWindowMs: 10_000 });
    const before = rp.status().map((s) => s.dirtyBlocks);
    for (const [offset, length, code] of [
      [POOL_BYTES - 1, 2, ErrorCode.OUT_OF_RANGE],
      [0, 0, ErrorCode.EMPTY_RANGE],
      [-5, 1, ErrorCode.OUT_OF_RANGE],
    ] as const) {
      const err = await rp.persist(offset, length).catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(code);
    }
    expect(rp.status().map((s) => s.dirtyBlocks)).to.deep.equal(before);
  });

  it('unmarks a block once an activity window passed with nothing in flight on it, never while a range on it awaits an ack', async () => {
    const rp = await openPool();
    const dirty = (): number[] => rp.status().map((s) => s.dirtyBlocks);
    for (let b = 0; b < 4; b++) await rp.persist(b * BLOCK_BYTES + 100, 10);
    await waitFor(() => dirty().every((n) => n === 0), 10_000, 'every block unmarked on every replica');
    // Block 5 goes idle on every replica (acked by all), then, within the same activity window, a
    // range on it that the stopped replica cannot ack: the others ack it (majority) and their block
    // 5 goes idle again; on the stopped one the block is in flight until its deadline, so the
    // first range's idleness must not unmark it.
    await rp.persist(5 * BLOCK_BYTES + 100, 10, { ack: 'all' });
    targets[1].signal('SIGSTOP');
    try {
      await rp.persist(5 * BLOCK_BYTES, 10);
      await waitFor(() => dirty()[0] === 0 && dirty()[2] === 0, 10_000, 'block 5 unmarked on the replicas that acked it');
      await new Promise((r) => setTimeout(r, 6 * options(specs).activityWindowMs!));
      expect(dirty()[1], `${specs[1]} (${rp.status()[1].state})`).to.equal(1);
    } finally {
      targets[1].signal('SIGCONT');
    }
    await allUp(rp);
  });

  it("keeps each replica's LSN when the primary reopens without writing (promotion relies on it)", async () => {
    const file = path.join(dir, 'primary');
    const first = await openPool({}, file);
    for (let i = 0; i < 5; i++) await first.persist(i * 10, 10);
    await first.close();
    const before = await Promise.all(targets.map((t) => RemotePool.stat(t.address, NAME)));
    expect(before.every((info) => info.lsn >= 5n && info.syncState === 'clean')).to.equal(true);
    const second = await openPool({}, file);
    await second.close();
    const after = await Promise.all(targets.map((t) => RemotePool.stat(t.address, NAME)));
    after.forEach((info, i) => expect(info.lsn >= before[i].lsn, `${specs[i]}: lsn ${before[i].lsn} -> ${info.lsn}`).to.equal(true));
  });

  it('detects a hung (SIGSTOPped) replica by deadline, and resyncs it after SIGCONT', async () => {
    const rp = await openPool();
    const hung = specs[1];
    const detected = nextEvent(rp, 'replica-down', (p) => p.replica === hung);
    const stoppedAt = Date.now();
    targets[1].signal('SIGSTOP');
    const writing = randomPersists(rp, 1500, 8 * 1024 * 1024);
    const down = await detected;
    const detectionMs = Date.now() - stoppedAt;
    expect(down.error.code).to.be.oneOf([ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE]);
    const { ackTimeoutMs } = options(specs);
    expect(detectionMs, `hung replica detected in ${detectionMs} ms (ackTimeoutMs ${ackTimeoutMs})`).to.be.at.most(
      DETECTION_DEADLINES * ackTimeoutMs!,
    );
    await writing;
    console.log(`      hung replica detected in ${detectionMs} ms (ackTimeoutMs ${ackTimeoutMs})`);
    const done = nextEvent(rp, 'resync-done', (p) => p.replica === hung);
    targets[1].signal('SIGCONT');
    await done;
    await allUp(rp);
    await rp.close();
    expectIdentical(path.join(dir, 'primary'), targets);
  });

  it('fills the gap of a replica whose link was cut both ways mid-batch', async () => {
    const proxy = await TcpProxy.start(targets[0].address);
    try {
      const viaProxy = [`${proxy.address}/${NAME}`, specs[1], specs[2]];
      const rp = await openPool({ replicas: viaProxy });
      const down = nextEvent(rp, 'replica-down', (p) => p.replica === viaProxy[0]);
      await randomPersists(rp, 2000, 8 * 1024 * 1024, (i) => {
        if (i === 300) proxy.cut();
      });
      expect((await down).error).to.be.instanceOf(RpmemError);
      const done = nextEvent(rp, 'resync-done', (p) => p.replica === viaProxy[0]);
      proxy.restore();
      const resync = await done;
      expect(resync.blocksDone).to.be.greaterThan(0);
      await allUp(rp);
      await rp.close();
      expectIdentical(path.join(dir, 'primary'), targets);
    } finally {
      await proxy.close();
    }
  });

  it('remembers what a down replica missed across an initiator restart (incremental resync)', async () => {
    const file = path.join(dir, 'primary');
    const first = await openPool({}, file);
    await randomPersists(first, 300, POOL_BYTES);
    await first.drain();
    await new Promise((r) => setTimeout(r, 300));
    const down = nextEvent(first, 'replica-down', (p) => p.replica === specs[2]);
    await targets[2].kill();
    first.buffer.write('probe', 0);
    await first.persist(0, 5);
    await down;
    const missed = await randomPersists(first, 500, 32 * 1024 * 1024);
    missed.add(0);
    await first.close();

    await targets[2].restart();
    const second = await ReplicatedPool.open(file, options(specs));
    open.push(second);
    const resync = await nextEvent(second, 'resync-done', (p) => p.replica === specs[2]);
    expect(resync.full).to.equal(false);
    expect(resync.blocksDone).to.equal(missed.size);
    await allUp(second);
    await second.close();
    expectIdentical(file, targets);
  });

  it('promotes a replica after the primary process is killed; the old primary is fenced (I5)', async () => {
    const oldPath = path.join(dir, 'old-primary');
    const child = spawnPrimary(oldPath, specs, POOL_BYTES);
    const acked = new Map<number, number>();
    let maxAcked = -1;
    let opened = false;
    // Lines, not chunks: a line split across two chunks would lose its ack.
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = /^acked (\d+)$/.exec(line);
      if (m) {
        const n = Number(m[1]);
        acked.set(n % SLOTS, Math.max(n, acked.get(n % SLOTS) ?? -1));
        maxAcked = Math.max(maxAcked, n);
      }
      if (line.startsWith('open ')) opened = true;
    });
    await waitFor(() => acked.size >= SLOTS && opened, 60_000, 'the primary to ack every slot');
    // 'close' comes after stdout ended: every ack line the primary printed has been read.
    const closed = new Promise((r) => lines.once('close', r));
    child.kill('SIGKILL');
    await closed;

    const newPath = path.join(dir, 'new-primary');
    const rp = await promote(newPath, options(specs));
    open.push(rp);
    expect(rp.epoch).to.equal(2n);
    await allUp(rp);
    // With at most PRIMARY_INFLIGHT persists unsettled when the next one was issued, nothing past
    // maxAcked + PRIMARY_INFLIGHT was ever sent: a later stamp in a slot did not come from this primary.
    const issuedBound = maxAcked + PRIMARY_INFLIGHT;
    for (const [slot, n] of acked) {
      const found = stampAt(rp.buffer, slot);
      const ok = found !== undefined && found >= n && found <= issuedBound && found % SLOTS === slot;
      expect(ok, `slot ${slot}: acked ${n}, at most ${issuedBound} issued, promoted copy has ${found}`).to.equal(true);
    }
    rp.buffer.write('new primary', 0);
    expect((await rp.persist(0, 11)).replicas.length).to.be.at.least(2);

    // The old primary can no longer write: neither its pool nor a stream at its epoch.
    const reopened = await ReplicatedPool.open(oldPath, options(specs)).catch((e: RpmemError) => e);
    expect((reopened as RpmemError).code).to.equal(ErrorCode.FENCED);
    await allUp(rp);
    await rp.drain();
    const verify = await rp.verify();
    expect(
      verify.every((v) => v.compared && v.differing.length === 0),
      JSON.stringify(verify),
    ).to.equal(true);
    await rp.close();
    expectIdentical(newPath, targets);
  });

  it('adds a replica online (resynced by checksum before it counts) and removes one', async () => {
    const rp = await openPool({ replicas: specs.slice(0, 2) });
    await randomPersists(rp, 300, POOL_BYTES);
    const done = nextEvent(rp, 'resync-done', (p) => p.replica === specs[2]);
    await rp.addReplica(specs[2]);
    const resync = await done;
    expect(resync.full).to.equal(true);
    expect(resync.blocksDone).to.be.greaterThan(0);
    await allUp(rp);
    expect(rp.status().map((s) => s.replica)).to.deep.equal(specs);
    await rp.removeReplica(specs[0]);
    expect(rp.status().map((s) => s.replica)).to.deep.equal(specs.slice(1));
    await randomPersists(rp, 100, POOL_BYTES);
    await rp.close();
    expectIdentical(path.join(dir, 'primary'), targets.slice(1));
  });

  it('refuses a writer at a fenced epoch with RPMEM_E_FENCED at open, and leaves no handle behind', async () => {
    const rp = await openPool();
    const oldClaim = (await RemotePool.stat(targets[0].address, NAME)).claimant;
    await rp.close();
    const claim = newClaim(5n);
    await RemotePool.fence(targets[0].address, NAME, claim);
    const err = await RemotePool.open(targets[0].address, NAME, { claim: { epoch: 1n, claimant: oldClaim } }).catch((e: RpmemError) => e);
    expect((err as RpmemError).code).to.equal(ErrorCode.FENCED);
    expect((await RemotePool.stat(targets[0].address, NAME)).open).to.equal(false);
    const current = await RemotePool.open(targets[0].address, NAME, { claim });
    expect((await current.persist(0, Buffer.from('fresh'))).seq).to.be.a('bigint');
    await current.close();
    expect((await RemotePool.stat(targets[0].address, NAME)).epoch).to.equal(5n);
  });

  it('finds a corrupted block with verify and fixes exactly that block with a checksum resync', async () => {
    const rp = await openPool();
    await randomPersists(rp, 300, POOL_BYTES);
    await rp.drain();
    const victim = targets[1].poolPath(NAME);
    const at = 5 * BLOCK_BYTES + 1234;
    const fd = fs.openSync(victim, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, HEADER_BYTES + at);
    byte[0] ^= 0xff;
    fs.writeSync(fd, byte, 0, 1, HEADER_BYTES + at);
    fs.closeSync(fd);

    const found = await rp.verify();
    expect(found.find((v) => v.replica === specs[1])?.differing).to.deep.equal([{ start: 5 * BLOCK_BYTES, end: 6 * BLOCK_BYTES }]);
    expect(found.filter((v) => v.replica !== specs[1]).every((v) => v.differing.length === 0)).to.equal(true);

    const done = nextEvent(rp, 'resync-done', (p) => p.replica === specs[1]);
    await rp.resync(specs[1]);
    const resync = await done;
    expect(resync.full).to.equal(true);
    expect(resync.blocksDone).to.equal(1);
    await allUp(rp);
    expect((await rp.verify()).every((v) => v.differing.length === 0)).to.equal(true);
    await rp.close();
    expectIdentical(path.join(dir, 'primary'), targets);
  });
});

function spawnPrimary(file: string, replicas: string[], size: number): ChildProcess {
  const script = path.join(__dirname, 'helpers', 'primary-process.js');
  const child = spawn(process.execPath, [script, JSON.stringify({ path: file, replicas, size, inflight: PRIMARY_INFLIGHT })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return child;
}
