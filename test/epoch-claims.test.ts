/**
 * rpmemd's epoch claims (docs/design.md I5): a pool promises an epoch to one claimant, a refused
 * writer changes nothing and keeps no handle, and out-of-range values are refused with
 * INVALID_ARGUMENT rather than accepted.
 */
import { expect } from 'chai';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { EpochClaim, newClaim } from '../src/storage/epoch-claim';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { TargetClient } from '../src/initiator/target-client';
import { RawPersist, range } from './helpers/raw-persist';
import { TestTarget } from './helpers/test-target';
import { code } from './helpers/rejection';

const POOL_BYTES = 256 * 1024;
const MAX_UINT64 = '18446744073709551615';

function digest(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('epoch claims on rpmemd', () => {
  let target: TestTarget;
  let client: TargetClient;
  let counter = 0;

  before(async () => {
    target = await TestTarget.start();
    client = new TargetClient(target.address);
  });

  after(async () => {
    client.close();
    await target.stop();
  });

  async function freshPool(): Promise<string> {
    const name = `claims${++counter}`;
    await (await RemotePool.create(target.address, name, { size: POOL_BYTES })).close();
    return name;
  }

  /** Opens `name` under `claim`, persists `text` at 0, and closes: proof the claim may write. */
  async function writeAs(name: string, claim: EpochClaim, text: string): Promise<void> {
    const pool = await RemotePool.open(target.address, name, { claim });
    await pool.persist(0, Buffer.from(text));
    await pool.close();
  }

  it('promises one epoch to one claimant: the second claimant of the same epoch is refused and the pool is unchanged', async () => {
    const name = await freshPool();
    const first = newClaim(2n);
    const info = await RemotePool.fence(target.address, name, first);
    expect(info.epoch).to.equal(2n);
    expect(info.claimant.equals(first.claimant)).to.equal(true);
    const before = digest(target.poolPath(name));
    expect(await code(RemotePool.fence(target.address, name, newClaim(2n)))).to.equal(ErrorCode.FENCED);
    expect(await code(RemotePool.fence(target.address, name, newClaim(1n)))).to.equal(ErrorCode.FENCED);
    // The claimant that holds the epoch may claim it again (a primary reattaching): it writes nothing.
    await RemotePool.fence(target.address, name, first);
    expect(digest(target.poolPath(name))).to.equal(before);
    await writeAs(name, first, 'first');
    const higher = newClaim(3n);
    await RemotePool.fence(target.address, name, higher);
    expect(await code(RemotePool.open(target.address, name, { claim: first }))).to.equal(ErrorCode.FENCED);
    await writeAs(name, higher, 'higher');
  });

  it('a pool nobody claimed takes its first claimant at its own epoch; then plain writers are refused at Open, leaving no handle', async () => {
    const name = await freshPool();
    await writeAs(name, newClaim(1n), 'first primary');
    expect((await RemotePool.stat(target.address, name)).claimant.length).to.equal(16);
    // Twice: once with the pool file closed on the target, once while a reader holds it open.
    expect(await code(RemotePool.open(target.address, name))).to.equal(ErrorCode.FENCED);
    const reader = await RemotePool.open(target.address, name, { readOnly: true });
    expect(await code(RemotePool.open(target.address, name))).to.equal(ErrorCode.FENCED);
    expect((await RemotePool.stat(target.address, name)).holder, 'no writer handle left behind').to.equal(undefined);
    await reader.close();
    const data = await RemotePool.open(target.address, name, { readOnly: true });
    expect((await data.read(0, 13)).toString()).to.equal('first primary');
    await data.close();
  });

  it('a writer fenced mid-stream has its queued ranges refused, and its handle is released at once', async () => {
    // Page granularity: each batch waits for an fdatasync, so ranges queue behind it when the fence lands.
    const paged = await TestTarget.start({ granularity: 'page' });
    const pagedClient = new TargetClient(paged.address);
    try {
      await fencedMidStream(paged, pagedClient);
    } finally {
      pagedClient.close();
      await paged.stop();
    }
  });

  async function fencedMidStream(target: TestTarget, client: TargetClient): Promise<void> {
    const name = 'midstream';
    await (await RemotePool.create(target.address, name, { size: POOL_BYTES })).close();
    const old = newClaim(2n);
    await RemotePool.fence(target.address, name, old);
    const writer = await RemotePool.open(target.address, name, { claim: old, ackTimeoutMs: 5000 });
    await writer.persist(0, Buffer.from('acked before'));
    expect((await RemotePool.stat(target.address, name)).holder).to.deep.include({ epoch: 2n });
    // Keep ranges flowing until the fence lands, so some are certainly queued when it does.
    const slot = 1024;
    const outcomes: Array<Promise<string>> = [];
    let fenced = false;
    let durableAtFence = -1n;
    const fence = client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: '3', claimant: newClaim(3n).claimant }).then((info) => {
      fenced = true;
      durableAtFence = BigInt(info.durableSeq);
    });
    for (let i = 0; !fenced && (i + 2) * slot <= POOL_BYTES; i++) {
      outcomes.push(
        writer.persist((i + 1) * slot, Buffer.alloc(slot, 0x5a)).then(
          () => 'acked',
          (e: RpmemError) => e.code,
        ),
      );
      if (i % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
    }
    await fence;
    expect(fenced, 'the fence landed while ranges were still being issued').to.equal(true);
    const results = await Promise.all(outcomes);
    const acked = results.filter((o) => o === 'acked').length;
    expect(acked, 'ranges acked before the fence').to.be.above(0);
    expect(
      results.slice(0, acked).every((o) => o === 'acked'),
      'acks are a prefix',
    ).to.equal(true);
    expect(results.length - acked, 'ranges refused after the fence').to.be.above(0);
    // The first refused range names the fence; the stream then fails them all (sticky, I3).
    expect(results[acked]).to.equal(ErrorCode.FENCED);
    expect(results.slice(acked + 1).every((c) => c === ErrorCode.FENCED || c === ErrorCode.FAILED)).to.equal(true);
    await writer.close();
    const file = fs.readFileSync(target.poolPath(name));
    results.forEach((_, i) => {
      const at = HEADER_BYTES + (i + 1) * slot;
      expect(file.subarray(at, at + slot).equals(Buffer.alloc(slot, i < acked ? 0x5a : 0)), `slot ${i} (acked ${acked})`).to.equal(true);
    });
    const after = await RemotePool.stat(target.address, name);
    expect(after.open).to.equal(false);
    // Nothing of the fenced writer was applied after the fence answered: the pool's seq stayed put.
    expect(after.durableSeq).to.equal(durableAtFence);
  }

  it('a refused Open or PersistStart leaves no handle: the current claimant opens right after', async () => {
    const name = await freshPool();
    const old = newClaim(2n);
    await RemotePool.fence(target.address, name, old);
    const current = newClaim(3n);
    await RemotePool.fence(target.address, name, current);
    for (let i = 0; i < 5; i++) {
      expect(await code(RemotePool.open(target.address, name, { claim: old }))).to.equal(ErrorCode.FENCED);
      expect(await code(RemotePool.open(target.address, name)), 'a plain writer').to.equal(ErrorCode.FENCED);
    }
    expect((await RemotePool.stat(target.address, name)).open).to.equal(false);
    // Opened under the current claim, but a PersistStart stating the old one: refused, handle released.
    const handle = (
      await client.open({ protocolVersion: PROTOCOL_VERSION, name, epoch: current.epoch.toString(), claimant: current.claimant })
    ).handle;
    const outcome = await new RawPersist(client)
      .write({ start: { protocolVersion: PROTOCOL_VERSION, handle, epoch: old.epoch.toString(), claimant: old.claimant } })
      .end();
    expect(outcome.error?.code).to.equal(ErrorCode.FENCED);
    expect((await RemotePool.stat(target.address, name)).open).to.equal(false);
    await writeAs(name, current, 'current');
  });

  it('SetSyncState records the writer as the history and keeps a resyncing copy at its clean point', async () => {
    const name = await freshPool();
    const claim = newClaim(4n);
    await RemotePool.fence(target.address, name, claim);
    const pool = await RemotePool.open(target.address, name, { claim });
    await pool.setSyncState('clean', 40n);
    expect(await RemotePool.stat(target.address, name)).to.deep.include({ historyEpoch: 4n, lsn: 40n, syncState: 'clean' });
    await pool.setSyncState('syncing', 0n);
    await pool.persist(0, Buffer.from('during resync'), { lsn: 99n });
    expect(await RemotePool.stat(target.address, name)).to.deep.include({ historyEpoch: 4n, lsn: 40n, syncState: 'syncing' });
    await pool.setSyncState('clean', 120n);
    await pool.persist(0, Buffer.from('after resync'), { lsn: 121n });
    expect(await RemotePool.stat(target.address, name)).to.deep.include({ historyEpoch: 4n, lsn: 121n, syncState: 'clean' });
    await pool.close();
  });

  describe('values outside their range', () => {
    let name: string;
    let handle: string;

    before(async () => {
      name = await freshPool();
      handle = (await client.open({ protocolVersion: PROTOCOL_VERSION, name, mode: 'OPEN_MODE_READ_ONLY' })).handle;
    });

    it('refuses an undeclared Open mode instead of opening read-write', async () => {
      expect(await code(client.open({ protocolVersion: PROTOCOL_VERSION, name, mode: 99 as never }))).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect((await RemotePool.stat(target.address, name)).open).to.equal(false);
    });

    it('refuses an undeclared sync state instead of marking the copy clean', async () => {
      const writer = (await client.open({ protocolVersion: PROTOCOL_VERSION, name })).handle;
      await client.setSyncState({ handle: writer, syncState: 'SYNC_STATE_SYNCING', lsn: '0' });
      expect(await code(client.setSyncState({ handle: writer, syncState: 99 as never, lsn: '5' }))).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect((await RemotePool.stat(target.address, name)).syncState).to.equal('syncing');
      await client.closeHandle({ handle: writer });
    });

    it('refuses epochs and LSNs above 2^53 - 1 on Fence, Open, SetSyncState and PersistStart', async () => {
      const claimant = Buffer.alloc(16, 7);
      expect(await code(client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: MAX_UINT64, claimant }))).to.equal(
        ErrorCode.INVALID_ARGUMENT,
      );
      expect(await code(client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: String(2 ** 53), claimant }))).to.equal(
        ErrorCode.INVALID_ARGUMENT,
      );
      expect(await code(client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: '0', claimant }))).to.equal(
        ErrorCode.INVALID_ARGUMENT,
      );
      expect(await code(client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: '5', claimant: Buffer.alloc(3) }))).to.equal(
        ErrorCode.INVALID_ARGUMENT,
      );
      expect(await code(client.fence({ protocolVersion: PROTOCOL_VERSION, name, epoch: '5' }))).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(await code(client.open({ protocolVersion: PROTOCOL_VERSION, name, epoch: MAX_UINT64, claimant }))).to.equal(
        ErrorCode.INVALID_ARGUMENT,
      );
      const writer = (await client.open({ protocolVersion: PROTOCOL_VERSION, name })).handle;
      expect(await code(client.setSyncState({ handle: writer, syncState: 'SYNC_STATE_CLEAN', lsn: MAX_UINT64 }))).to.equal(
        ErrorCode.INVALID_ARGUMENT,
      );
      await client.closeHandle({ handle: writer });
      const streamWriter = (await client.open({ protocolVersion: PROTOCOL_VERSION, name })).handle;
      const raw = new RawPersist(client).write({
        start: { protocolVersion: PROTOCOL_VERSION, handle: streamWriter, epoch: MAX_UINT64, claimant },
      });
      raw.send(range(1n, HEADER_BYTES, 8));
      const outcome = await raw.end();
      expect(outcome.error?.code).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(outcome.acks).to.deep.equal([]);
      await client.closeHandle({ handle: streamWriter }).catch(() => undefined);
      const info = await RemotePool.stat(target.address, name);
      expect(info.epoch).to.equal(1n);
      expect(info.open).to.equal(false);
      // A positive control: a claim in range is accepted.
      await RemotePool.fence(target.address, name, { epoch: BigInt(Number.MAX_SAFE_INTEGER), claimant });
    });

    after(async () => {
      await client.closeHandle({ handle }).catch(() => undefined);
    });
  });
});
