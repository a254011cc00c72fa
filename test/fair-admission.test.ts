/**
 * Fair admission of streams (issue #10, item 2): one client that opens streams and leaves them idle
 * takes at most its share of max-streams (max-streams-per-peer per IP address, max-streams-per-
 * principal per token), so everyone else can still open Persist and Read streams.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode } from '../src/storage/errors';
import { RemotePool } from '../src/initiator/remote-pool';
import { BidiCall, CallOutcome, newClient } from './helpers/fuzz-calls';
import { tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';

const PERSIST = '/rpmem.v1.Target/Persist';
const CALL_DEADLINE_MS = 30_000;
/** Long enough for every refusal of a burst to arrive; admitted idle streams stay open far longer (idle-stream-ms). */
const SETTLE_MS = 2_000;

/** Opens `count` idle Persist streams over `connections` connections to `address`; resolves once refusals have settled. */
async function idleStreams(
  address: string,
  count: number,
  connections: number,
  metadata = new grpc.Metadata(),
): Promise<{ calls: BidiCall[]; clients: grpc.Client[]; refused: CallOutcome[] }> {
  const clients = Array.from({ length: connections }, () => newClient(address));
  const calls = Array.from({ length: count }, (_, i) => new BidiCall(clients[i % connections], PERSIST, CALL_DEADLINE_MS, metadata));
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const refused = await Promise.all(calls.filter((c) => c.done).map((c) => c.outcome));
  return { calls, clients, refused };
}

function closeAll(s: { calls: BidiCall[]; clients: grpc.Client[] }): Promise<unknown> {
  for (const c of s.calls) c.cancel();
  return Promise.all(s.calls.map((c) => c.outcome)).finally(() => s.clients.forEach((c) => c.close()));
}

/** Another client writes and reads a pool: a Persist stream and a Read stream are admitted for it. */
async function servedTo(address: string, name: string, token?: string): Promise<void> {
  const pool = await RemotePool.create(address, name, { size: 4096, token });
  await pool.persist(0, Buffer.from('fair'));
  expect((await pool.read(0, 4)).toString()).to.equal('fair');
  await pool.close();
}

describe('rpmemd fair stream admission', function () {
  it('one peer flooding idle Persist streams from 20 connections gets max-streams-per-peer of them; another peer is served', async function () {
    this.timeout(120_000);
    // Listening on every address: 127.0.0.1 and ::1 are two peers of one daemon.
    const target = await TestTarget.start({ host: '[::]' });
    const port = target.address.slice(target.address.lastIndexOf(':') + 1);
    const flood = await idleStreams(`127.0.0.1:${port}`, 300, 20);
    try {
      await servedTo(`[::1]:${port}`, 'other-peer');
      const perPeer = flood.refused.filter((o) => o.rpmemCode === ErrorCode.LIMIT && /max-streams-per-peer 64/.test(o.details));
      expect(
        perPeer.length,
        flood.refused
          .slice(0, 3)
          .map((o) => o.details)
          .join('; '),
      ).to.equal(300 - 64);
      expect(flood.refused.length, 'only the streams over the share were refused').to.equal(300 - 64);
    } finally {
      await closeAll(flood);
    }
    // The flooding peer's slots are released with its streams.
    await servedTo(`127.0.0.1:${port}`, 'same-peer-later');
    await target.stop();
  });

  it('one token holds at most max-streams-per-principal streams; another token on the same address is served', async function () {
    this.timeout(60_000);
    const tokens = { greedy: 'greedy-token-0123456789', other: 'other-token-0123456789' };
    const file = path.join(tempDir('fair-tokens'), 'tokens.yaml');
    fs.writeFileSync(file, `tokens:\n  - token: "${tokens.greedy}"\n  - token: "${tokens.other}"\n`);
    const target = await TestTarget.start({ args: ['--auth-token-file', file, '--max-streams', '16', '--max-streams-per-principal', '5'] });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${tokens.greedy}`);
    const flood = await idleStreams(target.address, 8, 2, metadata);
    try {
      await servedTo(target.address, 'other-token', tokens.other);
      expect(flood.refused.map((o) => o.rpmemCode)).to.deep.equal(Array<string>(3).fill(ErrorCode.LIMIT));
      expect(
        flood.refused.every((o) => /max-streams-per-principal 5/.test(o.details)),
        flood.refused[0]?.details,
      ).to.equal(true);
    } finally {
      await closeAll(flood);
      await target.stop();
    }
  });
});
