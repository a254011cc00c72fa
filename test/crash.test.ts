/**
 * Process death and shutdown of rpmemd while persists stream (docs/design.md I1–I3): every range
 * acknowledged before a SIGKILL is in the pool file, a restarted target reports at least the last
 * acknowledged seq, nothing unacknowledged is reported as durable, and SIGTERM drains and exits 0.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';
import { SLOT_BYTES, stamp, stampAt } from './helpers/stamps';

const RANGE_BYTES = SLOT_BYTES;
const SLOTS = 4096;
const POOL_BYTES = RANGE_BYTES * SLOTS;
const MAX_RANGES = 500_000;

interface Outcome {
  acked: Map<number, bigint>;
  rejected: Map<number, RpmemError>;
  issued: number;
}

/**
 * Persists stamped ranges with up to `depth` in flight until one is rejected (or MAX_RANGES were
 * issued); resolves when every issued persist has settled.
 */
async function stream(pool: RemotePool, depth: number): Promise<Outcome> {
  const out: Outcome = { acked: new Map(), rejected: new Map(), issued: 0 };
  const inflight = new Set<Promise<void>>();
  while (out.issued < MAX_RANGES && out.rejected.size === 0) {
    const n = out.issued++;
    const p = pool.persist((n % SLOTS) * RANGE_BYTES, stamp(n)).then(
      (r) => void out.acked.set(n, r.seq),
      (e: RpmemError) => void out.rejected.set(n, e),
    );
    inflight.add(p);
    void p.then(() => inflight.delete(p));
    if (inflight.size >= depth) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return out;
}

function lastAckedSeq(outcome: Outcome): bigint {
  return [...outcome.acked.values()].reduce((a, b) => (b > a ? b : a), 0n);
}

/**
 * Each slot holds its last acknowledged range, or a later one that was sent (unacked data may
 * land). A slot whose later range was still unacknowledged at the kill may hold a torn mix of the
 * two: overwriting acknowledged bytes gives up their guarantee until the overwrite is acknowledged
 * (docs/guarantees.md, Overwrites), as with any store a crash interrupts. Such slots are counted, and the
 * pipeline depth bounds them (`depth`: 0 where nothing may be torn).
 */
function expectAckedInPool(bytes: Buffer, outcome: Outcome, depth: number): void {
  const lastAckedOfSlot = new Map<number, number>();
  for (const n of outcome.acked.keys()) lastAckedOfSlot.set(n % SLOTS, Math.max(n, lastAckedOfSlot.get(n % SLOTS) ?? -1));
  const overwriteInFlight = new Set<number>();
  for (let n = 0; n < outcome.issued; n++) {
    const last = lastAckedOfSlot.get(n % SLOTS);
    if (!outcome.acked.has(n) && last !== undefined && n > last) overwriteInFlight.add(n % SLOTS);
  }
  let torn = 0;
  for (const [slot, n] of lastAckedOfSlot) {
    const found = stampAt(bytes, slot);
    const ok = found !== undefined && found >= n && found < outcome.issued && found % SLOTS === slot;
    if (ok) continue;
    if (!overwriteInFlight.has(slot)) throw new Error(`slot ${slot}: acked range ${n} lost (found ${found})`);
    torn++;
  }
  expect(torn, 'slots torn by an overwrite in flight').to.be.at.most(depth);
}

for (const granularity of ['cache-line', 'page'] as const) {
  describe(`rpmemd process death and shutdown (${granularity})`, function () {
    let target: TestTarget;

    beforeEach(async () => {
      target = await TestTarget.start({ granularity });
    });

    afterEach(async () => {
      await target.stop();
    });

    it('keeps every range acked before SIGKILL, and Open reports at least the last acked seq', async () => {
      const pool = await RemotePool.create(target.address, 'kill', { size: POOL_BYTES });
      const running = stream(pool, 64);
      await waitFor(() => pool.durableSeq >= 5000n, 60_000, '5000 acks');
      await target.kill();
      const outcome = await running;
      expect(outcome.acked.size).to.be.at.least(5000);
      expect(outcome.rejected.size).to.be.at.least(1);
      const lastAcked = lastAckedSeq(outcome);
      // Acks are cumulative and in order: no range after a rejected one was reported durable.
      const firstRejected = Math.min(...outcome.rejected.keys());
      expect([...outcome.acked.keys()].every((i) => i < firstRejected)).to.equal(true);
      for (const e of outcome.rejected.values()) expect(e).to.be.instanceOf(RpmemError);
      // Sticky: the handle is failed, later calls reject at once.
      const later = await pool.persist(0, Buffer.from('x')).catch((e: RpmemError) => e);
      expect((later as RpmemError).code).to.equal(ErrorCode.FAILED);
      await pool.close();

      expectAckedInPool(fs.readFileSync(target.poolPath('kill')).subarray(HEADER_BYTES), outcome, 64);
      await target.restart();
      const reopened = await RemotePool.open(target.address, 'kill');
      expect(reopened.durableSeq >= lastAcked, `durable ${reopened.durableSeq} < acked ${lastAcked}`).to.equal(true);
      expectAckedInPool(await reopened.read(0, POOL_BYTES), outcome, 64);
      await reopened.close();
    });

    it('on SIGTERM acks what it received, refuses the rest, and exits 0', async () => {
      const pool = await RemotePool.create(target.address, 'term', { size: POOL_BYTES });
      const running = stream(pool, 256);
      await waitFor(() => pool.durableSeq >= 2000n, 60_000, '2000 acks');
      target.signal('SIGTERM');
      const ackedAtSignal = pool.durableSeq;
      const outcome = await running;
      const exit = await target.exited;
      expect(exit.code, target.log.join('\n')).to.equal(0);
      const lastAcked = lastAckedSeq(outcome);
      expect(lastAcked >= ackedAtSignal, `last ack ${lastAcked} < ${ackedAtSignal} acked at the signal`).to.equal(true);
      // The drain ends the stream with SHUTDOWN; a SIGKILL or a forced close would give UNAVAILABLE.
      // Ranges issued after that first rejection see the sticky FAILED.
      const firstRejected = Math.min(...outcome.rejected.keys());
      expect(outcome.rejected.get(firstRejected)!.code, outcome.rejected.get(firstRejected)!.message).to.equal(ErrorCode.SHUTDOWN);
      for (const [n, e] of outcome.rejected) {
        if (n !== firstRejected) expect([ErrorCode.SHUTDOWN, ErrorCode.FAILED]).to.include(e.code);
      }
      await pool.close();
      // A drain applies whole batches or none: no slot may be torn here.
      expectAckedInPool(fs.readFileSync(target.poolPath('term')).subarray(HEADER_BYTES), outcome, 0);
      await target.restart();
      const info = await RemotePool.stat(target.address, 'term');
      // Equal, not at least: the drain acks every range it made durable, so a drain that applies
      // what it received without acking it leaves the header ahead of the last ack.
      expect(info.durableSeq, `durable at restart vs last ack`).to.equal(lastAcked);
      expect(info.open).to.equal(false);
    });
  });
}
