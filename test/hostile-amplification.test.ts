/**
 * Decode amplification (issue #10, item 1): a PersistBatch of hundreds of thousands of one-byte
 * ranges fits under max-message-bytes but used to cost ~290 MB and half a second of decoding each.
 * rpmemd now refuses a batch of more than max-batch-ranges ranges before decoding any of them, and
 * counts every range's bookkeeping against max-inflight-bytes; under a flood of such batches a good
 * client on another connection keeps being served.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { encodePersistRequest } from '../src/wire/persist-codec';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { TargetClient } from '../src/initiator/target-client';
import { identity, newClient, unaryCall } from './helpers/fuzz-calls';
import { encode, tinyRangesBatch } from './helpers/fuzz-frames';
import { ProcProbe } from './helpers/fuzz-probe';
import { RawPersist, range } from './helpers/raw-persist';
import { TestTarget } from './helpers/test-target';

const TINY_POOL = HEADER_BYTES + 4096;
/** The attack message: 850,000 one-byte ranges, about 14.6 MiB. */
const FLOOD_RANGES = 850_000;
const ATTACKERS = 8;
/** Generous: the good client's calls must be served, not fast (no timing assertions). */
const GOOD_DEADLINE_MS = 20_000;

describe('rpmemd against decode amplification', function () {
  describe('max-batch-ranges', () => {
    let target: TestTarget;
    let client: TargetClient;

    before(async () => {
      target = await TestTarget.start({ args: ['--max-batch-ranges', '100'] });
      client = new TargetClient(target.address);
    });

    after(async () => {
      client?.close();
      await target?.stop();
    });

    it('takes a batch of exactly max-batch-ranges ranges and refuses one more range with RPMEM_E_LIMIT', async () => {
      await client.create({ protocolVersion: PROTOCOL_VERSION, name: 'cap', poolSize: HEADER_BYTES + 65536 });
      const { handle } = await client.open({ protocolVersion: PROTOCOL_VERSION, name: 'cap' });
      const atLimit = Array.from({ length: 100 }, (_, i) => range(BigInt(i + 1), HEADER_BYTES + 8 * i, 8, 0x40 + (i % 64)));
      const overLimit = Array.from({ length: 101 }, (_, i) => range(BigInt(101 + i), HEADER_BYTES + 1024 + 8 * i, 8, 0x11));
      const out = await new RawPersist(client)
        .start(handle)
        .send(...atLimit)
        .send(...overLimit).outcome;
      expect(out.error?.code, out.error?.message).to.equal(ErrorCode.LIMIT);
      expect(out.status).to.equal(Status.RESOURCE_EXHAUSTED);
      expect(out.error?.message).to.include('max-batch-ranges');
      expect(out.acks[out.acks.length - 1]).to.equal(100n);
      const bytes = fs.readFileSync(target.poolPath('cap'));
      for (let i = 0; i < 100; i++) expect(bytes[HEADER_BYTES + 8 * i], `range ${i + 1}`).to.equal(0x40 + (i % 64));
      expect(
        bytes.subarray(HEADER_BYTES + 1024, HEADER_BYTES + 1024 + 808).equals(Buffer.alloc(808)),
        'nothing of the refused batch',
      ).to.equal(true);
      const info = await client.stat({ protocolVersion: PROTOCOL_VERSION, name: 'cap' });
      expect(info.durableSeq).to.equal('100');
    });

    it("rpmem's own initiator never sends more ranges in a message than the target's max-batch-ranges", async () => {
      const pool = await RemotePool.create(target.address, 'own', { size: 65536 });
      // 1000 tiny ranges queued in one tick would fit one 1 MiB message by bytes alone.
      const acks = await Promise.all(Array.from({ length: 1000 }, (_, i) => pool.persist(8 * i, Buffer.alloc(8, i % 251))));
      expect(acks[acks.length - 1].seq).to.equal(1000n);
      await pool.close();
      const bytes = fs.readFileSync(target.poolPath('own'));
      for (let i = 0; i < 1000; i++) expect(bytes[HEADER_BYTES + 8 * i], `range ${i}`).to.equal(i % 251);
    });
  });

  describe(`${ATTACKERS} connections each sending one batch of ${FLOOD_RANGES} one-byte ranges`, () => {
    let target: TestTarget;

    before(async () => {
      target = await TestTarget.start({ granularity: 'page' });
    });

    after(async () => {
      await target?.stop();
    });

    /** One attacker: its own connection, a tiny pool, a PersistStart and the flood batch; resolves with the stream's rpmem-code. */
    async function attack(i: number, batch: Buffer): Promise<string | undefined> {
      const c = new TargetClient(target.address, {
        channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
        callTimeoutMs: GOOD_DEADLINE_MS,
      });
      try {
        await c.create({ protocolVersion: PROTOCOL_VERSION, name: `flood${i}`, poolSize: TINY_POOL });
        const { handle } = await c.open({ protocolVersion: PROTOCOL_VERSION, name: `flood${i}` });
        const call = c.grpc.makeBidiStreamRequest('/rpmem.v1.Target/Persist', identity, identity, new grpc.Metadata(), {
          deadline: Date.now() + 2 * GOOD_DEADLINE_MS,
        });
        call.on('data', () => undefined);
        call.on('error', () => undefined);
        const code = new Promise<string | undefined>((resolve) =>
          call.on('status', (s: grpc.StatusObject) =>
            resolve(s.code === Status.OK ? 'OK' : (s.metadata.get('rpmem-code')[0] as string | undefined)),
          ),
        );
        call.write(
          encodePersistRequest({
            kind: 'start',
            start: { protocolVersion: PROTOCOL_VERSION, handle, epoch: 0n, claimant: Buffer.alloc(0) },
          }),
        );
        call.write(batch);
        call.end();
        return await code;
      } finally {
        c.close();
      }
    }

    it('refuses every flood batch with RPMEM_E_LIMIT, keeps serving Health, Stat and a good writer, and stays within a memory bound', async function () {
      this.timeout(180_000);
      const batch = tinyRangesBatch(1n, FLOOD_RANGES, TINY_POOL);
      const writer = await RemotePool.create(target.address, 'good', {
        size: 65536,
        channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
        callTimeoutMs: GOOD_DEADLINE_MS,
        ackTimeoutMs: GOOD_DEADLINE_MS,
      });
      let writerLost: RpmemError | undefined;
      void writer.whenFailed().then((e) => (writerLost = e));
      const probe = new ProcProbe(target.pid, 50).start();
      const baseline = probe.sample()!.rss;
      const good = newClient(target.address);
      const failures: string[] = [];
      const served = { health: 0, stat: 0, persist: 0 };
      const statRequest = encode('StatRequest', { protocolVersion: PROTOCOL_VERSION, name: 'good' });
      let attacking = true;
      const goodClient = async (): Promise<void> => {
        const page = Buffer.alloc(4096, 0x77);
        for (let i = 0; attacking && i < 100_000; i++) {
          const [health, stat] = await Promise.all([
            unaryCall(good, '/grpc.health.v1.Health/Check', Buffer.alloc(0), GOOD_DEADLINE_MS),
            unaryCall(good, '/rpmem.v1.Target/Stat', statRequest, GOOD_DEADLINE_MS),
            writer.persist(0, page).then(
              () => served.persist++,
              (e: RpmemError) => failures.push(`persist: ${e.code} ${e.message}`),
            ),
          ]);
          if (health.code === Status.OK) served.health++;
          else failures.push(`Health: ${health.code} ${health.details}`);
          if (stat.code === Status.OK) served.stat++;
          else failures.push(`Stat: ${stat.code} ${stat.details}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const goodDone = goodClient();
      const codes = await Promise.all(Array.from({ length: ATTACKERS }, (_, i) => attack(i, batch)));
      const duringAttack = { ...served };
      attacking = false;
      await goodDone;
      probe.stop();
      // Work after the attack: the same connection must still persist and answer.
      await writer.persist(4096, Buffer.alloc(4096, 0x78));
      expect((await unaryCall(good, '/grpc.health.v1.Health/Check', Buffer.alloc(0), GOOD_DEADLINE_MS)).code).to.equal(Status.OK);
      good.close();
      await writer.close();

      expect(failures, failures.slice(0, 5).join('; ')).to.deep.equal([]);
      expect(writerLost, 'the good writer was dropped').to.equal(undefined);
      expect(duringAttack.health, 'Health calls served during the attack').to.be.greaterThan(0);
      expect(duringAttack.stat).to.be.greaterThan(0);
      expect(duringAttack.persist).to.be.greaterThan(0);
      // The received messages themselves (attackers x 14.6 MiB, twice while grpc-js joins the
      // frames) are the documented max-message-bytes cost; decoded ranges would add ~290 MB each.
      const bound = 2 * ATTACKERS * batch.length + 128 * 1024 * 1024;
      expect(probe.peakRss - baseline, `peak VmRSS growth ${(probe.peakRss - baseline) / 2 ** 20} MiB`).to.be.at.most(bound);
      expect(codes).to.deep.equal(Array<string>(ATTACKERS).fill(ErrorCode.LIMIT));
    });
  });
});
