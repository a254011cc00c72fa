/**
 * Replication fan-out, encoded once: a batch ReplicatedPool sends to several replicas on streams of
 * implied seqs is one Buffer written to every stream (seen at a grpc-js client interceptor, the seam
 * between rpmem and the wire); a replica that falls behind gets its own encoding and still receives
 * what each range held when persist was called (docs/design.md I7); a target that does not offer
 * implied seqs gets every range with its seq (I3).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { decodePersistRequest, PersistRange } from '../src/wire/persist-codec';
import { persistMethod } from '../src/wire/protocol';
import { RemotePool } from '../src/initiator/remote-pool';
import { ReplicatedPool, ReplicatedPoolOptions } from '../src/initiator/replicated-pool';
import { SHM_DIR, tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';
import { LyingTarget } from './helpers/lying-target';
import { waitFor } from './helpers/wait';

const NAME = 'fanout';
const POOL_BYTES = 4 * 1024 * 1024;
const RANGE_BYTES = 4096;

/** The messages one call wrote, as rpmem handed them to grpc-js (a Buffer for every encoded batch). */
interface RecordedCall {
  path: string;
  sent: unknown[];
  /** Messages the target sent back (Open's response names the pool's uuid). */
  received: unknown[];
}

/** A grpc-js client interceptor recording every call's messages, and the list it records into. */
function recorder(): { calls: RecordedCall[]; channelOptions: Record<string, string | number> } {
  const calls: RecordedCall[] = [];
  const interceptor: grpc.Interceptor = (options, nextCall) => {
    const call: RecordedCall = { path: options.method_definition.path, sent: [], received: [] };
    calls.push(call);
    return new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) =>
        next(metadata, {
          onReceiveMessage: (message: unknown, nextMessage: (m: unknown) => void) => {
            call.received.push(message);
            nextMessage(message);
          },
        }),
      sendMessage: (message, next) => {
        call.sent.push(message);
        next(message);
      },
    });
  };
  // grpc-js takes `interceptors` among the client options, where rpmem merges channelOptions.
  return { calls, channelOptions: { interceptors: [interceptor] } as unknown as Record<string, string | number> };
}

/** The Persist calls, each named by the uuid of the pool its handle opened (from the Open responses recorded before it). */
function persistCalls(calls: RecordedCall[]): Map<string, RecordedCall> {
  const uuidOfHandle = new Map<string, string>();
  const byUuid = new Map<string, RecordedCall>();
  for (const call of calls) {
    if (call.path.endsWith('/Open')) {
      const res = call.received[0] as { handle: string; info: { poolUuid: Buffer } } | undefined;
      if (res !== undefined) uuidOfHandle.set(res.handle, res.info.poolUuid.toString('hex'));
    } else if (call.path === persistMethod.path) {
      const start = call.sent[0] as { kind: string; start: { handle: string } };
      const uuid = uuidOfHandle.get(start.start.handle);
      if (uuid !== undefined) byUuid.set(uuid, call);
    }
  }
  return byUuid;
}

function batches(call: RecordedCall, from = 1): Buffer[] {
  return call.sent.slice(from).filter((m): m is Buffer => Buffer.isBuffer(m));
}

function rangesOf(message: Buffer): readonly PersistRange[] {
  const decoded = decodePersistRequest(message);
  if (decoded.kind !== 'batch') throw new Error(`expected a batch, got ${decoded.kind}`);
  return decoded.ranges;
}

async function uuidOf(target: TestTarget): Promise<string> {
  return (await RemotePool.stat(target.address, NAME)).poolUuid.toString('hex');
}

describe('replication fan-out, encoded once', function () {
  let targets: TestTarget[];
  let dir: string;
  let rp: ReplicatedPool | undefined;

  before(async () => {
    targets = await Promise.all([0, 1, 2].map(() => TestTarget.start()));
  });

  after(async () => {
    for (const t of targets) await t.stop();
  });

  beforeEach(() => {
    dir = tempDir('fanout', SHM_DIR);
  });

  afterEach(async () => {
    await rp?.close();
    rp = undefined;
    for (const t of targets) fs.rmSync(t.poolPath(NAME), { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function openOptions(channelOptions: Record<string, string | number>, extra: Partial<ReplicatedPoolOptions>): ReplicatedPoolOptions {
    return {
      replicas: targets.map((t) => `${t.address}/${NAME}`),
      create: { size: POOL_BYTES },
      granularity: 'cache-line',
      channelOptions,
      // Blocks stay marked between the warm-up and the persists under test, so none of them waits
      // for a dirty-map write (each replica's own file, done at its own moment) before it is sent.
      activityWindowMs: 60_000,
      openWaitMs: 30_000,
      ...extra,
    };
  }

  /** Persists every range of the region once, acked by all, so its blocks are marked on every replica. */
  async function warmUp(pool: ReplicatedPool, ranges: number): Promise<void> {
    // A replica that held an earlier test's pool is resynced after open: wait until all are up.
    await pool.waitForQuorum({ ack: 'all', timeoutMs: 30_000 });
    await Promise.all(Array.from({ length: ranges }, (_, i) => pool.persist(i * RANGE_BYTES, RANGE_BYTES, { ack: 'all' })));
  }

  it('writes one Buffer per batch to every replica, carrying each range once, without seqs', async () => {
    const rec = recorder();
    rp = await ReplicatedPool.open(path.join(dir, 'primary.pool'), openOptions(rec.channelOptions, { ack: 'all' }));
    const pool = rp;
    const count = 48;
    await warmUp(pool, count);
    const streams = persistCalls(rec.calls);
    const calls = await Promise.all(targets.map(async (t) => streams.get(await uuidOf(t))!));
    expect(calls.every((c) => c !== undefined)).to.equal(true);
    const marks = calls.map((c) => c.sent.length);
    const persists = [];
    for (let i = 0; i < count; i++) {
      pool.buffer.fill(i + 1, i * RANGE_BYTES, (i + 1) * RANGE_BYTES);
      persists.push(pool.persist(i * RANGE_BYTES, RANGE_BYTES));
    }
    await Promise.all(persists);
    const sent = calls.map((c, k) => batches(c, marks[k]));
    expect(sent[0].length).to.be.within(1, count);
    for (const other of sent.slice(1)) {
      expect(other.length).to.equal(sent[0].length);
      // The same object, not equal bytes: encoded once.
      other.forEach((m, i) => expect(m === sent[0][i], `message ${i} is the first replica's Buffer`).to.equal(true));
    }
    const ranges = sent[0].flatMap((m) => [...rangesOf(m)]);
    expect(ranges.map((r) => r.seq)).to.deep.equal(new Array(count).fill(0));
    expect(ranges.map((r) => r.offset)).to.deep.equal(Array.from({ length: count }, (_, i) => HEADER_BYTES + i * RANGE_BYTES));
    ranges.forEach((r, i) => expect(r.data.equals(Buffer.alloc(RANGE_BYTES, i + 1)), `range ${i}'s data`).to.equal(true));
    await rp.close();
    rp = undefined;
    const local = fs.readFileSync(path.join(dir, 'primary.pool')).subarray(HEADER_BYTES, HEADER_BYTES + count * RANGE_BYTES);
    for (const t of targets) {
      const copy = fs.readFileSync(t.poolPath(NAME)).subarray(HEADER_BYTES, HEADER_BYTES + count * RANGE_BYTES);
      expect(copy.equals(local), `replica ${t.address} holds what was persisted`).to.equal(true);
    }
  });

  it('gives a replica that fell behind its own encoding, and it receives what each range held at persist', async () => {
    const rec = recorder();
    const window = 4 * RANGE_BYTES;
    rp = await ReplicatedPool.open(
      path.join(dir, 'primary.pool'),
      openOptions(rec.channelOptions, { ack: 'majority', maxInflightBytes: window, ackTimeoutMs: 60_000 }),
    );
    const pool = rp;
    const count = 16;
    await warmUp(pool, count);
    const streams = persistCalls(rec.calls);
    const [a, b, late] = await Promise.all(targets.map(async (t) => streams.get(await uuidOf(t))!));
    const marks = [a, b, late].map((c) => c.sent.length);
    targets[2].signal('SIGSTOP');
    let lateSentWhileStopped: readonly PersistRange[];
    try {
      for (let i = 0; i < count; i++) {
        const fill = 0x40 + i;
        pool.buffer.fill(fill, i * RANGE_BYTES, (i + 1) * RANGE_BYTES);
        await pool.persist(i * RANGE_BYTES, RANGE_BYTES);
        // Settled on the two running replicas: the application reuses the range at once.
        pool.buffer.fill(0xee, i * RANGE_BYTES, (i + 1) * RANGE_BYTES);
      }
      lateSentWhileStopped = batches(late, marks[2]).flatMap((m) => [...rangesOf(m)]);
    } finally {
      targets[2].signal('SIGCONT');
    }
    // The fault happened: the stopped replica's window held it to the first ranges.
    expect(lateSentWhileStopped.length).to.equal(window / RANGE_BYTES);
    await waitFor(
      () => batches(late, marks[2]).flatMap((m) => [...rangesOf(m)]).length === count,
      30_000,
      'the late replica sent every range',
    );
    const [sentA, sentB, sentLate] = [a, b, late].map((c, k) => batches(c, marks[k]));
    expect(sentB.length).to.equal(sentA.length);
    sentB.forEach((m, i) => expect(m === sentA[i], `running replicas share message ${i}`).to.equal(true));
    const shared = new Set(sentA);
    let offset = 0;
    for (const m of sentLate) {
      const first = offset;
      offset += rangesOf(m).length;
      // Ranges the late replica sent while it kept up share the others' message; those it sent after
      // falling behind (their persists settled and their memory reused meanwhile) are its own.
      expect(shared.has(m), `the late replica's message of ranges ${first}..${offset - 1}`).to.equal(offset <= lateSentWhileStopped.length);
    }
    await rp.close();
    rp = undefined;
    const copy = fs.readFileSync(targets[2].poolPath(NAME));
    for (let i = 0; i < count; i++) {
      const at = HEADER_BYTES + i * RANGE_BYTES;
      expect(copy.subarray(at, at + RANGE_BYTES).equals(Buffer.alloc(RANGE_BYTES, 0x40 + i)), `late replica's range ${i}`).to.equal(true);
    }
  });

  it('numbers ranges explicitly for a target that does not offer implied seqs (and fails an ack beyond them), and implicitly for rpmemd', async () => {
    const liar = await LyingTarget.start();
    try {
      const rec = recorder();
      const old = await RemotePool.openReplica(liar.address, 'plain', { channelOptions: rec.channelOptions });
      const acked = await old.persist(0, Buffer.alloc(64, 1));
      await old.close();
      const call = rec.calls.find((c) => c.path === persistMethod.path)!;
      expect((call.sent[0] as { start: { firstSeq: number } }).start.firstSeq).to.equal(0);
      expect(batches(call).flatMap((m) => rangesOf(m).map((r) => r.seq))).to.deep.equal([Number(acked.seq)]);
      expect(acked.seq).to.equal(1n);
      // An ack of a seq never sent fails the stream: with implied seqs nothing else would tell.
      const over = await RemotePool.openReplica(liar.address, 'overack', {});
      const refused = await over.persist(0, Buffer.alloc(64, 1)).then(
        () => undefined,
        (err: RpmemError) => err,
      );
      await over.close();
      expect(refused?.code).to.equal(ErrorCode.PROTOCOL);
      expect(refused?.message).to.include('highest seq sent is 1');
    } finally {
      await liar.stop();
    }
    const rec = recorder();
    await (await RemotePool.create(targets[0].address, NAME, { size: POOL_BYTES })).close();
    const replica = await RemotePool.openReplica(targets[0].address, NAME, { channelOptions: rec.channelOptions });
    await replica.persist(0, Buffer.alloc(64, 2));
    const second = await replica.persist(4096, Buffer.alloc(64, 3));
    await replica.close();
    const call = rec.calls.find((c) => c.path === persistMethod.path)!;
    expect((call.sent[0] as { start: { firstSeq: number } }).start.firstSeq).to.equal(1);
    expect(batches(call).flatMap((m) => rangesOf(m).map((r) => r.seq))).to.deep.equal([0, 0]);
    expect(second.seq).to.equal(2n);
    const copy = fs.readFileSync(targets[0].poolPath(NAME));
    expect(copy.subarray(HEADER_BYTES + 4096, HEADER_BYTES + 4096 + 64).equals(Buffer.alloc(64, 3))).to.equal(true);
  });
});
