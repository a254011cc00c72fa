/**
 * Transport security and authentication against real rpmemd processes: TLS and mutual TLS
 * (refused without a client certificate or with one from another CA), plaintext only when asked,
 * and bearer tokens scoped to pools and to read-only use — with the pool file unchanged by every
 * refused write.
 */
import * as grpc from '@grpc/grpc-js';
import { newClaim } from '../src/storage/epoch-claim';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'chai';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http2 from 'http2';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { RemotePool } from '../src/initiator/remote-pool';
import { ConnectOptions } from '../src/initiator/options';
import { testCerts } from './helpers/certs';
import { tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';

const RPMEMD = path.join(__dirname, '..', 'src', 'target', 'main.js');

async function code(work: Promise<unknown>): Promise<string> {
  return work.then(
    () => 'resolved',
    (e: RpmemError) => e.code,
  );
}

/**
 * Sends one gRPC-framed message of `bytes` to `method` on a fresh stream of `session` with no
 * token; resolves with the grpc-status the daemon answered, or `reset` if it reset the stream.
 */
function unauthenticatedCall(session: http2.ClientHttp2Session, method: string, bytes: number): Promise<string> {
  const frame = Buffer.alloc(5 + bytes);
  frame.writeUInt32BE(bytes, 1);
  return new Promise((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
    let status = 'none';
    stream.on('response', (headers) => (status = String(headers['grpc-status'])));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve(stream.rstCode === http2.constants.NGHTTP2_NO_ERROR ? status : 'reset'));
    stream.resume();
    stream.end(frame);
  });
}

function hash(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A create + persist + read round trip: proves the target served this client. */
async function roundTrip(address: string, name: string, options: ConnectOptions): Promise<void> {
  const pool = await RemotePool.create(address, name, { ...options, size: 65536 });
  await pool.persist(100, Buffer.from('over tls'));
  expect((await pool.read(100, 8)).toString()).to.equal('over tls');
  await pool.close();
}

describe('security: TLS', function () {
  const certs = testCerts();
  const read = (f: string): Buffer => fs.readFileSync(f);

  describe('mutual TLS (tls-ca set)', () => {
    let target: TestTarget;
    before(async () => {
      target = await TestTarget.start({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert } });
    });
    after(async () => {
      await target.stop();
    });

    it('serves a client with a certificate from the trusted CA', async () => {
      await roundTrip(target.address, 'mtls-ok', {
        tls: { ca: read(certs.caCert), cert: read(certs.clientCert), key: read(certs.clientKey) },
      });
    });

    const trusted = (): ConnectOptions => ({
      tls: { ca: read(certs.caCert), cert: read(certs.clientCert), key: read(certs.clientKey) },
      callTimeoutMs: 3000,
    });

    /** A dead daemon also answers UNAVAILABLE: a trusted client must still be served after the refusal. */
    async function expectRefusedThenServed(refused: Promise<unknown>, codes: string[]): Promise<void> {
      expect(await code(refused)).to.be.oneOf(codes);
      expect(await code(RemotePool.stat(target.address, 'mtls-ok', trusted())), 'a trusted client after the refusal').to.equal('resolved');
    }

    it('refuses a client without a certificate', async () => {
      await expectRefusedThenServed(RemotePool.stat(target.address, 'mtls-ok', { tls: { ca: read(certs.caCert) }, callTimeoutMs: 3000 }), [
        ErrorCode.UNAVAILABLE,
      ]);
    });

    it('refuses a client certificate from another CA', async () => {
      const other = {
        tls: { ca: read(certs.caCert), cert: read(certs.otherClientCert), key: read(certs.otherClientKey) },
        callTimeoutMs: 3000,
      };
      await expectRefusedThenServed(RemotePool.stat(target.address, 'mtls-ok', other), [ErrorCode.UNAVAILABLE]);
    });

    it('is refused by a client that does not trust the server certificate', async () => {
      const wrongRoots = {
        tls: { ca: read(certs.otherCaCert), cert: read(certs.clientCert), key: read(certs.clientKey) },
        callTimeoutMs: 3000,
      };
      await expectRefusedThenServed(RemotePool.stat(target.address, 'mtls-ok', wrongRoots), [ErrorCode.UNAVAILABLE]);
    });

    it('refuses a plaintext client', async () => {
      await expectRefusedThenServed(RemotePool.stat(target.address, 'mtls-ok', { callTimeoutMs: 3000 }), [
        ErrorCode.UNAVAILABLE,
        ErrorCode.INTERNAL,
      ]);
    });
  });

  it('serves TLS without client certificates when no tls-ca is set', async () => {
    const target = await TestTarget.start({ tls: { cert: certs.serverCert, key: certs.serverKey } });
    try {
      await roundTrip(target.address, 'tls-ok', { tls: { ca: read(certs.caCert) } });
    } finally {
      await target.stop();
    }
  });

  it('will not start without TLS unless --insecure is given, and warns about plaintext off loopback', async () => {
    const dir = tempDir('tls-required');
    const refused = spawnSync(process.execPath, [RPMEMD, '--pool-dir', dir], { encoding: 'utf8' });
    expect(refused.status).to.equal(2);
    expect(refused.stderr).to.match(/"tls-cert": TLS is required/);
    const target = await TestTarget.start({ host: '0.0.0.0' });
    try {
      expect(target.log.join('\n')).to.match(/PLAINTEXT on a non-loopback address/);
    } finally {
      await target.stop();
    }
    const loopback = await TestTarget.start();
    try {
      expect(loopback.log.join('\n')).to.not.match(/PLAINTEXT/);
    } finally {
      await loopback.stop();
    }
  });
});

describe('security: tokens', function () {
  const tokens = {
    admin: crypto.randomBytes(24).toString('hex'),
    app: crypto.randomBytes(24).toString('hex'),
    reader: crypto.randomBytes(24).toString('hex'),
  };
  let target: TestTarget;
  const as = (token?: string): ConnectOptions => ({ token, callTimeoutMs: 3000 });

  before(async () => {
    const file = path.join(tempDir('tokens'), 'tokens.yaml');
    const readerDigest = crypto.createHash('sha256').update(tokens.reader).digest('hex');
    fs.writeFileSync(
      file,
      [
        'tokens:',
        `  - token: "${tokens.admin}"`,
        `  - token: "${tokens.app}"`,
        '    pools: ["app-*"]',
        `  - sha256: "${readerDigest}"`,
        '    read-only: true',
      ].join('\n') + '\n',
    );
    target = await TestTarget.start({ args: ['--auth-token-file', file, '--log-level', 'debug'], keepStderr: true });
    const pool = await RemotePool.create(target.address, 'app-data', { ...as(tokens.admin), size: 65536 });
    await pool.persist(0, Buffer.from('original'));
    await pool.close();
    await (await RemotePool.create(target.address, 'other', { ...as(tokens.admin), size: 65536 })).close();
  });

  after(async () => {
    await target.stop();
  });

  it('refuses a call without a token, or with a wrong one (UNAUTHENTICATED)', async () => {
    expect(await code(RemotePool.stat(target.address, 'app-data', as()))).to.equal(ErrorCode.UNAUTHENTICATED);
    expect(await code(RemotePool.stat(target.address, 'app-data', as('x'.repeat(48))))).to.equal(ErrorCode.UNAUTHENTICATED);
    // The admin token with its last character changed (to a different one: a random hex token ends in '0' one time in 16).
    const nearMiss = tokens.admin.slice(0, -1) + (tokens.admin.endsWith('0') ? '1' : '0');
    expect(await code(RemotePool.open(target.address, 'app-data', as(nearMiss)))).to.equal(ErrorCode.UNAUTHENTICATED);
  });

  it('refuses a call without a token at its headers, before reading its message', async () => {
    const messageBytes = 8 * 1024 * 1024;
    const stat = '/rpmem.v1.Target/Stat';
    const session = http2.connect(`http://${target.address}`);
    session.on('error', () => undefined);
    try {
      for (let i = 0; i < 3; i++)
        expect(await unauthenticatedCall(session, stat, messageBytes)).to.equal(String(grpc.status.UNAUTHENTICATED));
      const before = target.rssBytes();
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, target.rssBytes())), 20);
      const statuses: string[] = [];
      const caller = async (): Promise<void> => {
        for (let i = 0; i < 3; i++) statuses.push(await unauthenticatedCall(session, stat, messageBytes));
      };
      await Promise.all(Array.from({ length: 8 }, caller));
      clearInterval(sampler);
      // Node's http2 may also reset streams of a session holding too much unread data (ENHANCE_YOUR_CALM).
      expect(statuses.filter((s) => s !== String(grpc.status.UNAUTHENTICATED) && s !== 'reset')).to.deep.equal([]);
      // Read first and refused after, these 8 × 8 MiB in flight took the daemon's RSS up ~85 MB.
      expect(peak - before).to.be.below(48 * 1024 * 1024);
    } finally {
      session.close();
    }
    expect(await code(RemotePool.stat(target.address, 'app-data', as(tokens.admin)))).to.equal('resolved');
  });

  it('refuses a token on a pool outside its patterns (PERMISSION_DENIED), pool unchanged', async () => {
    const before = hash(target.poolPath('other'));
    expect(await code(RemotePool.open(target.address, 'other', as(tokens.app)))).to.equal(ErrorCode.PERMISSION);
    expect(await code(RemotePool.remove(target.address, 'other', as(tokens.app)))).to.equal(ErrorCode.PERMISSION);
    expect(await code(RemotePool.fence(target.address, 'other', newClaim(9n), as(tokens.app)))).to.equal(ErrorCode.PERMISSION);
    expect(hash(target.poolPath('other'))).to.equal(before);
    const own = await RemotePool.open(target.address, 'app-data', as(tokens.app));
    await own.persist(100, Buffer.from('app write'));
    await own.close();
  });

  it('lets a read-only token read but not write (PERMISSION_DENIED), pool unchanged', async () => {
    const before = hash(target.poolPath('app-data'));
    expect(await code(RemotePool.open(target.address, 'app-data', as(tokens.reader)))).to.equal(ErrorCode.PERMISSION);
    expect(await code(RemotePool.create(target.address, 'app-new', { ...as(tokens.reader), size: 4096 }))).to.equal(ErrorCode.PERMISSION);
    expect(await code(RemotePool.fence(target.address, 'app-data', newClaim(9n), as(tokens.reader)))).to.equal(ErrorCode.PERMISSION);
    const reader = await RemotePool.open(target.address, 'app-data', { ...as(tokens.reader), readOnly: true });
    expect((await reader.read(0, 8)).toString()).to.equal('original');
    expect(await code(reader.persist(0, Buffer.from('nope')))).to.equal(ErrorCode.BAD_HANDLE);
    await reader.close();
    expect(hash(target.poolPath('app-data'))).to.equal(before);
  });

  it('answers a per-pool health check only for a token that may read the pool, and the overall one for anyone', async () => {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const health = new pkg.grpc.health.v1.Health(target.address, grpc.credentials.createInsecure());
    const check = (service: string, token?: string): Promise<string | number> => {
      const metadata = new grpc.Metadata();
      if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
      return new Promise((resolve) =>
        health.Check({ service }, metadata, (err: grpc.ServiceError | null, res?: { status: string }) =>
          resolve(err ? err.code : res!.status),
        ),
      );
    };
    try {
      expect(await check('')).to.equal('SERVING');
      // Without a token, an existing and a missing pool look the same.
      expect(await check('rpmem.pool/app-data')).to.equal(grpc.status.UNAUTHENTICATED);
      expect(await check('rpmem.pool/missing')).to.equal(grpc.status.UNAUTHENTICATED);
      expect(await check('rpmem.pool/other', tokens.app)).to.equal(grpc.status.PERMISSION_DENIED);
      expect(await check('rpmem.pool/app-data', tokens.app)).to.equal('SERVING');
      expect(await check('rpmem.pool/app-missing', tokens.app)).to.equal(grpc.status.NOT_FOUND);
      expect(await check('rpmem.pool/other', tokens.reader)).to.equal('SERVING');
    } finally {
      health.close();
    }
  });

  it('never logs a token', () => {
    // All of it: a token logged at start scrolls out of the 50-line tail long before this test.
    const log = target.fullLog;
    expect(log).to.match(/"msg":"listening"/);
    for (const t of Object.values(tokens)) expect(log.includes(t)).to.equal(false);
  });

  it('refuses to start with a malformed token file, naming the problem', () => {
    const file = path.join(tempDir('tokens'), 'bad.yaml');
    fs.writeFileSync(file, 'tokens:\n  - token: short\n');
    const r = spawnSync(process.execPath, [RPMEMD, '--pool-dir', tempDir('tokens'), '--insecure', '--auth-token-file', file], {
      encoding: 'utf8',
    });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/tokens\[0\] needs "token" \(16 characters or more\)/);
  });
});
