/**
 * The smaller findings of issue #10 (item 6): the Bearer scheme in any case, a stalled Read's memory
 * within the bound of docs/security.md (Limits), an info log line for a client that vanishes mid-stream, and
 * reflection listing itself.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { RemotePool } from '../src/initiator/remote-pool';
import { TargetClient } from '../src/initiator/target-client';
import { crc32c } from '../src/storage/native';
import { runStep } from './helpers/fuzz-replay';
import { newClient } from './helpers/fuzz-calls';
import { tempDir } from './helpers/setup';
import { TcpProxy } from './helpers/tcp-proxy';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';

const MiB = 1024 * 1024;
/** docs/security.md's bound (Limits) for what a Read stream holds while its client does not read. */
const STALLED_READ_BOUND_BYTES = MiB;

describe('rpmemd: the smaller hostile-client findings', function () {
  it('accepts the Bearer scheme in any case and with more than one space, and still refuses other schemes', async () => {
    const token = 'case-token-0123456789';
    const file = path.join(tempDir('bearer'), 'tokens.yaml');
    fs.writeFileSync(file, `tokens:\n  - token: "${token}"\n`);
    const target = await TestTarget.start({ args: ['--auth-token-file', file] });
    const list = async (authorization: string): Promise<string> => {
      const client = new TargetClient(target.address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
      const md = new grpc.Metadata();
      md.set('authorization', authorization);
      try {
        return await new Promise<string>((resolve) =>
          client.grpc.List({ protocolVersion: PROTOCOL_VERSION }, md, (err) =>
            resolve(err ? String(err.metadata.get('rpmem-code')[0]) : 'ok'),
          ),
        );
      } finally {
        client.close();
      }
    };
    try {
      for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) expect(await list(`${scheme} ${token}`), scheme).to.equal('ok');
      expect(await list(`Bearer   ${token}`)).to.equal('ok');
      expect(await list(`Basic ${token}`)).to.equal(ErrorCode.UNAUTHENTICATED);
      expect(await list(`Bearer${token}`)).to.equal(ErrorCode.UNAUTHENTICATED);
    } finally {
      await target.stop();
    }
  });

  it('holds at most 1 MiB per Read stream whose client stops reading', async function () {
    this.timeout(60_000);
    const STALLED = 48;
    // max-streams = STALLED: a Read refused during the stall proves every stalled stream is still held.
    const target = await TestTarget.start({ args: ['--max-streams-per-peer', '100', '--max-streams', String(STALLED)] });
    try {
      const pool = await RemotePool.create(target.address, 'stalled', { size: 16 * MiB });
      await pool.close();
      const client = new TargetClient(target.address);
      const { handle } = await client.open({ protocolVersion: PROTOCOL_VERSION, name: 'stalled', mode: 'OPEN_MODE_READ_ONLY' });
      client.close();
      const grpcClient = newClient(target.address);
      // Warm the daemon's Read path first, so the comparison counts the stalled streams, not first-use costs.
      const warm = {
        transport: 'http2' as const,
        headers: { ':path': '/rpmem.v1.Target/Read' },
        frames: [{ type: 'ReadRequest', value: { handle: '$HANDLE', offset: String(HEADER_BYTES), length: String(16 * MiB) } }],
        deadlineMs: 10_000,
      };
      expect((await runStep(target.address, grpcClient, warm, { $HANDLE: handle })).status).to.equal('OK');
      const before = target.rssBytes();
      // Each stream's HTTP/2 window is 0: the daemon cannot send a byte until the client resets it.
      const stalled = { ...warm, settings: { initialWindowSize: 0 }, rstAfterMs: 4000, deadlineMs: 8000 };
      const steps = Array.from({ length: STALLED }, () => runStep(target.address, grpcClient, stalled, { $HANDLE: handle }));
      await new Promise((r) => setTimeout(r, 3000));
      const during = target.rssBytes();
      const extra = await RemotePool.open(target.address, 'stalled', { readOnly: true });
      expect(
        await extra.read(0, 4).then(
          () => 'read',
          (e: RpmemError) => e.code,
        ),
        'a Read past max-streams during the stall',
      ).to.equal(ErrorCode.LIMIT);
      await extra.close();
      await Promise.all(steps);
      grpcClient.close();
      // Slack for what the connections themselves cost (HTTP/2 sessions, sockets: tens of KiB each).
      const slack = 16 * MiB;
      expect(during - before, `RSS growth ${((during - before) / MiB).toFixed(1)} MiB for ${STALLED} stalled reads`).to.be.at.most(
        STALLED * STALLED_READ_BOUND_BYTES + slack,
      );
      // The daemon still serves reads after the resets.
      const reader = await RemotePool.open(target.address, 'stalled', { readOnly: true });
      expect((await reader.read(0, 4)).length).to.equal(4);
      await reader.close();
    } finally {
      await target.stop();
    }
  });

  it('logs at info when a client vanishes in the middle of a Persist stream', async () => {
    const target = await TestTarget.start({ args: ['--log-level', 'info'] });
    // The client reaches the daemon through a proxy that can reset its connection: a client gone without a word.
    const proxy = await TcpProxy.start(target.address);
    const client = new TargetClient(proxy.address, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    const abandoned = (): string[] => target.log.filter((l) => l.includes('persist stream abandoned by its client'));
    try {
      // A stream that ends cleanly is no vanished client.
      const clean = await RemotePool.create(target.address, 'clean', { size: 4096 });
      await clean.persist(0, Buffer.from('ok'));
      await clean.close();
      await client.create({ protocolVersion: PROTOCOL_VERSION, name: 'vanish', poolSize: HEADER_BYTES + 65536 });
      const { handle } = await client.open({ protocolVersion: PROTOCOL_VERSION, name: 'vanish' });
      const call = client.persist();
      call.on('error', () => undefined);
      const acked = new Promise<void>((resolve) => call.once('data', () => resolve()));
      const data = Buffer.alloc(64, 1);
      call.write({ kind: 'start', start: { protocolVersion: PROTOCOL_VERSION, handle, epoch: 0n, claimant: Buffer.alloc(0) } });
      call.write({ kind: 'batch', ranges: [{ seq: 1, offset: HEADER_BYTES, data, crc32c: crc32c(data), flags: 0, lsn: 0 }] });
      await acked;
      expect(abandoned(), 'no such line before the client vanished').to.deep.equal([]);
      proxy.cut();
      await waitFor(() => abandoned().length > 0, 10_000, 'an info line for the vanished client');
      const lines = abandoned();
      expect(lines.length, 'one line, for the one vanished client').to.equal(1);
      expect(JSON.parse(lines[0]) as Record<string, unknown>).to.include({ level: 'info', pool: 'vanish', lastSeqReceived: 1 });
      // The handle was released: the pool opens for writing again.
      const again = await RemotePool.open(target.address, 'vanish');
      await again.close();
    } finally {
      client.close();
      await proxy.close();
      await target.stop();
    }
  });

  it('lists the reflection services themselves through reflection', async () => {
    const target = await TestTarget.start();
    const protoDir = path.join(path.dirname(require.resolve('@grpc/reflection')), '..', 'proto');
    const pkg = grpc.loadPackageDefinition(
      protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [protoDir], keepCase: true }),
    ) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              address: string,
              creds: grpc.ChannelCredentials,
            ) => grpc.Client & {
              ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }>;
            };
          };
        };
      };
    };
    const reflection = new pkg.grpc.reflection.v1.ServerReflection(target.address, grpc.credentials.createInsecure());
    try {
      const call = reflection.ServerReflectionInfo();
      const names = await new Promise<string[]>((resolve, reject) => {
        call.on('data', (r) => {
          resolve(r.list_services_response?.service.map((s: { name: string }) => s.name) ?? []);
          call.end();
        });
        call.on('error', reject);
        call.write({ list_services: '*' });
      });
      expect(names).to.include.members([
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
        'rpmem.v1.Target',
        'grpc.health.v1.Health',
      ]);
    } finally {
      reflection.close();
      await target.stop();
    }
  });
});
