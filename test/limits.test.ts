/**
 * rpmemd's resource limits, each hit once with its error, the daemon serving others afterwards;
 * and backpressure instead of buffering (RSS stays near the in-flight limit under a flood).
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as http2 from 'http2';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { TargetClient } from '../src/initiator/target-client';
import { RawPersist, range } from './helpers/raw-persist';
import { TestTarget } from './helpers/test-target';

const MiB = 1024 * 1024;

async function code(work: Promise<unknown>): Promise<string> {
  return work.then(
    () => 'resolved',
    (e: RpmemError) => e.code,
  );
}

/** The daemon still creates, persists and reads a fresh pool. */
async function stillServes(target: TestTarget, name: string): Promise<void> {
  const pool = await RemotePool.create(target.address, name, { size: 4096 });
  await pool.persist(0, Buffer.from('alive'));
  expect((await pool.read(0, 5)).toString()).to.equal('alive');
  await pool.close();
  await RemotePool.remove(target.address, name);
}

describe('rpmemd resource limits', function () {
  it('max-pools and max-total-bytes refuse a create with RPMEM_E_LIMIT', async () => {
    const target = await TestTarget.start({ args: ['--max-pools', '3', '--max-total-bytes', String(8 * MiB)] });
    try {
      await (await RemotePool.create(target.address, 'a', { size: 4 * MiB })).close();
      expect(await code(RemotePool.create(target.address, 'b', { size: 4 * MiB }))).to.equal(ErrorCode.LIMIT);
      await (await RemotePool.create(target.address, 'b', { size: 4096 })).close();
      await (await RemotePool.create(target.address, 'c', { size: 4096 })).close();
      const err = await RemotePool.create(target.address, 'd', { size: 4096 }).catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(ErrorCode.LIMIT);
      expect((err as RpmemError).message).to.match(/max-pools/);
      expect(fs.readdirSync(target.poolDir).sort()).to.deep.equal(['a', 'b', 'c']);
      await RemotePool.remove(target.address, 'c');
      await stillServes(target, 'e');
    } finally {
      await target.stop();
    }
  });

  it('max-streams refuses a stream over the limit; max-new-streams-per-second refuses a burst', async () => {
    const target = await TestTarget.start({ args: ['--max-streams', '2', '--max-new-streams-per-second', '3'] });
    try {
      const writers = [
        await RemotePool.create(target.address, 'w1', { size: 4096 }),
        await RemotePool.create(target.address, 'w2', { size: 4096 }),
      ];
      await Promise.all(writers.map((w) => w.persist(0, Buffer.from('x'))));
      const reader = await RemotePool.open(target.address, 'w1', { readOnly: true });
      const err = await reader.read(0, 1).catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(ErrorCode.LIMIT);
      expect((err as RpmemError).message).to.match(/max-streams/);
      await Promise.all(writers.map((w) => w.close()));

      // One connection opening streams faster than 3/s (burst 6) is refused once the bucket is empty.
      const codes: string[] = [];
      for (let i = 0; i < 12; i++) codes.push(await code(reader.read(0, 1)));
      expect(codes.slice(0, 4)).to.deep.equal(['resolved', 'resolved', 'resolved', 'resolved']);
      expect(codes).to.include(ErrorCode.LIMIT);
      await reader.close();
      await new Promise((r) => setTimeout(r, 1000));
      await stillServes(target, 'after');
    } finally {
      await target.stop();
    }
  });

  it('max-streams-per-connection is announced to each connection in its HTTP/2 settings', async () => {
    const target = await TestTarget.start({ args: ['--max-streams-per-connection', '5'] });
    const session = http2.connect(`http://${target.address}`);
    session.on('error', () => undefined);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.maxConcurrentStreams).to.equal(5);
      await stillServes(target, 'after');
    } finally {
      session.close();
      await target.stop();
    }
  });

  it('max-message-bytes refuses an oversized message with RESOURCE_EXHAUSTED', async () => {
    const target = await TestTarget.start({ args: ['--max-range-bytes', String(64 * 1024), '--max-message-bytes', String(256 * 1024)] });
    const client = new TargetClient(target.address);
    try {
      await client.create({ protocolVersion: PROTOCOL_VERSION, name: 'big', poolSize: HEADER_BYTES + 4 * MiB });
      const { handle } = await client.open({ protocolVersion: PROTOCOL_VERSION, name: 'big' });
      const ranges = Array.from({ length: 8 }, (_, i) => range(BigInt(i + 1), HEADER_BYTES + i * 64 * 1024, 64 * 1024));
      const out = await new RawPersist(client).start(handle).send(...ranges).outcome;
      expect(out.error?.code).to.equal(ErrorCode.LIMIT);
      expect(out.acks).to.deep.equal([]);
      await stillServes(target, 'after');
    } finally {
      client.close();
      await target.stop();
    }
  });

  it('idle-stream-ms ends a silent Persist stream with RPMEM_E_TIMEOUT', async () => {
    const target = await TestTarget.start({ args: ['--idle-stream-ms', '300'] });
    try {
      const pool = await RemotePool.create(target.address, 'idle', { size: 4096 });
      await pool.persist(0, Buffer.from('x'));
      const err = await pool.whenFailed();
      expect(err.code).to.equal(ErrorCode.TIMEOUT);
      expect(await code(pool.persist(0, Buffer.from('y')))).to.equal(ErrorCode.FAILED);
      await pool.close();
      const reopened = await RemotePool.open(target.address, 'idle');
      expect(reopened.durableSeq).to.equal(1n);
      await reopened.close();
    } finally {
      await target.stop();
    }
  });

  it('applies backpressure instead of buffering: RSS stays within max-inflight-bytes + 100 MB under a flood', async () => {
    const inflight = 8 * MiB;
    const target = await TestTarget.start({
      granularity: 'page',
      args: ['--max-inflight-bytes', String(inflight), '--max-range-bytes', String(MiB)],
    });
    try {
      const pool = await RemotePool.create(target.address, 'flood', { size: 64 * MiB, maxInflightBytes: 256 * MiB });
      const baseline = target.rssBytes();
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, target.rssBytes())), 20);
      const data = Buffer.alloc(MiB, 7);
      const all = [];
      for (let i = 0; i < 512; i++) all.push(pool.persist((i % 64) * MiB, data));
      await Promise.all(all);
      clearInterval(sampler);
      await pool.close();
      console.log(`      target RSS ${Math.round(baseline / MiB)} MiB -> peak ${Math.round(peak / MiB)} MiB under a 512 MiB flood`);
      expect(peak - baseline).to.be.below(inflight + 100 * MiB);
    } finally {
      await target.stop();
    }
  });
});
