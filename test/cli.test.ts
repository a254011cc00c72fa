/**
 * The rpmem CLI against real rpmemd processes: every command's --help, one real run of each,
 * --json output that parses, exit codes (0 ok, 1 failed or found a problem, 2 usage), and
 * one-line errors with stack traces only under --debug. Commands run in-process through runCli
 * (a process start costs more than most commands); a few runs of the real binary check that the
 * exit codes and stderr reach the shell.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough, Readable } from 'stream';
import { runCli } from '../src/cli/run';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { ReplicatedPool } from '../src/initiator/replicated-pool';
import { testCerts } from './helpers/certs';
import { TestTarget } from './helpers/test-target';
import { SHM_DIR, tempDir } from './helpers/setup';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const COMMANDS = ['create', 'info', 'ls', 'read', 'write', 'remove', 'status', 'verify', 'resync', 'promote', 'bench'];

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

async function rpmem(args: string[], input = ''): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const [out, err] = [collect(stdout), collect(stderr)];
  const status = await runCli(args, { stdin: Readable.from(input === '' ? [] : [Buffer.from(input)]), stdout, stderr });
  return { status, stdout: out(), stderr: err() };
}

/** The real binary, for what only a process shows: its exit status and stderr. */
function binary(args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status!, stdout: r.stdout, stderr: r.stderr };
}

function json(r: Run): Record<string, unknown> {
  expect(r.stderr, 'stderr').to.equal('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('rpmem CLI', async () => {
  let target: TestTarget;
  let t: string[];

  before(async () => {
    target = await TestTarget.start();
    t = ['--target', target.address];
  });

  after(async () => {
    await target.stop();
  });

  it('the binary prints help and exits 0, 1 on a failed operation, 2 on bad usage, with one-line errors', async () => {
    const r = binary(['--help']);
    expect(r.status).to.equal(0);
    for (const c of COMMANDS) expect(r.stdout).to.match(new RegExp(`^  ${c} `, 'm'));
    expect(r.stdout).to.match(/Examples:/);
    expect(r.stdout).to.match(/Exit codes: 0 success, 1 .*, 2 bad usage/);
    const failed = binary(['info', ...t, 'missing']);
    expect(failed.status).to.equal(1);
    expect(failed.stderr).to.equal('rpmem: RPMEM_E_NO_POOL: no pool named missing\n');
    const usage = binary(['create', ...t, 'nosize']);
    expect(usage.status).to.equal(2);
    expect(usage.stderr).to.equal('rpmem: RPMEM_E_INVALID_ARGUMENT: create needs --size SIZE (see rpmem --help)\n');
  });

  it('prints --help with a synopsis, options, examples and exit codes for every command', async () => {
    for (const c of COMMANDS) {
      const r = await rpmem([c, '--help']);
      expect(r.status, c).to.equal(0);
      expect(r.stdout, c).to.match(new RegExp(`^Usage: rpmem ${c} `));
      expect(r.stdout, c).to.match(/\nOptions:\n/);
      expect(r.stdout, c).to.match(new RegExp(`\\nExamples:\\n  (.*\\| )?rpmem ${c} `));
      expect(r.stdout, c).to.match(/Exit codes:/);
    }
    expect((await rpmem(['help', 'status'])).stdout).to.match(/^Usage: rpmem status /);
  });

  it('creates, writes, reads, describes, lists and removes a pool', async () => {
    expect(json(await rpmem(['create', ...t, '--size', '1M', 'clipool', '--json']))).to.deep.include({
      name: 'clipool',
      size: 1048576,
      granularity: 'cache-line',
      durability: 'emulated',
    });

    expect(json(await rpmem(['write', ...t, '--offset', '10', 'clipool', '--json'], 'hello from stdin'))).to.deep.include({
      offset: 10,
      length: 16,
      seq: '1',
    });
    expect((await rpmem(['write', ...t, '--offset', '100', '--data', 'second', 'clipool'])).stdout).to.match(
      /durable \(cache-line, emulated\), seq 2/,
    );

    const read = await rpmem(['read', ...t, '--offset', '10', '--length', '16', 'clipool']);
    expect(read.status, read.stderr).to.equal(0);
    expect(read.stdout).to.equal('hello from stdin');
    const out = path.join(tempDir('cli'), 'out.bin');
    expect((await rpmem(['read', ...t, '--offset', '100', '--length', '6', '--out', out, 'clipool'])).status).to.equal(0);
    expect(fs.readFileSync(out, 'utf8')).to.equal('second');
    expect(json(await rpmem(['read', ...t, '--offset', '100', '--length', '6', 'clipool', '--json']))).to.deep.equal({
      offset: 100,
      length: 6,
      base64: Buffer.from('second').toString('base64'),
    });

    expect(json(await rpmem(['info', ...t, 'clipool', '--json']))).to.deep.include({
      name: 'clipool',
      size: 1048576,
      durableSeq: '2',
      epoch: '1',
      syncState: 'clean',
      open: false,
      durability: 'emulated',
    });
    expect((await rpmem(['info', ...t, 'clipool'])).stdout).to.match(/durable seq:\s+2/);

    const listed = JSON.parse((await rpmem(['ls', ...t, '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(listed.map((p) => p.name)).to.deep.equal(['clipool']);
    expect(listed[0]).to.include({ size: 1048576, granularity: 'cache-line', durableSeq: '2' });
    expect((await rpmem(['ls', ...t])).stdout).to.match(
      /^NAME\s+SIZE\s+GRANULARITY\s+DURABILITY\s+EPOCH\s+LSN\s+SYNC\s+OPEN\nclipool\s+1\.0 MiB\s+cache-line\s+emulated\s+1\s+0\s+clean\s+no\n$/,
    );

    expect(json(await rpmem(['remove', ...t, 'clipool', '--json']))).to.deep.equal({ name: 'clipool', removed: true });
    expect(fs.existsSync(target.poolPath('clipool'))).to.equal(false);
    expect((await rpmem(['ls', ...t])).stdout).to.equal('(no pools)\n');
  });

  it('benchmarks pipelined persists and removes its temporary pool', async () => {
    const r = json(await rpmem(['bench', ...t, '--size', '4K', '--count', '300', '--json']));
    expect(r).to.include({ target: target.address, size: 4096, count: 300, granularity: 'cache-line' });
    expect(r.rangesPerSecond).to.be.a('number').greaterThan(0);
    expect(r.mbPerSecond).to.be.a('number').greaterThan(0);
    expect((await rpmem(['bench', ...t, '--count', '50'])).stdout).to.match(/^50 x 4\.0 KiB persisted to .* ranges\/s, [\d.]+ MB\/s\n$/);
    expect(fs.readdirSync(target.poolDir).filter((f) => f.startsWith('rpmem-bench-'))).to.deep.equal([]);
  });

  it('exits 1 with a one-line error naming the code; --debug adds the stack', async () => {
    const r = await rpmem(['info', ...t, 'missing']);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/^rpmem: RPMEM_E_NO_POOL: no pool named missing\n$/);
    expect((await rpmem(['create', ...t, '--size', '1M', '../evil'])).stderr).to.match(/^rpmem: RPMEM_E_BAD_NAME: /);
    expect((await rpmem(['info', '--target', '127.0.0.1:1', 'x', '--call-timeout-ms', '2000'])).stderr).to.match(
      /^rpmem: RPMEM_E_(UNAVAILABLE|TIMEOUT): [^\n]*\n$/,
    );
    const file = await rpmem(['write', ...t, '--offset', '0', '--file', '/nonexistent/rpmem', 'p']);
    expect(file.status).to.equal(1);
    expect(file.stderr).to.match(/^rpmem: ENOENT: [^\n]*\n$/);
    const debug = await rpmem(['info', ...t, 'missing', '--debug']);
    expect(debug.status).to.equal(1);
    expect(debug.stderr).to.match(/^rpmem: RPMEM_E_NO_POOL: .*\nRpmemError: .*\n\s+at /);
  });

  it('exits 2 with a one-line error on bad usage', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate', ...t, 'x'],
      ['create', ...t, 'nosize'],
      ['create', ...t, '--size', '1M'],
      ['read', ...t, '--offset', 'x', '--length', '1', 'p'],
      ['info', ...t, 'a', 'b'],
      ['ls', ...t, '--bogus'],
      ['status', '--replica', 'h:1/p'],
      ['verify', '--pool', '/tmp/p'],
      ['status', '--pool', '/tmp/p', '--replica', 'no-port'],
      ['promote', '--pool', '/tmp/p', '--replica', 'h:1/p', '--ack', 'most'],
      ['--target', 'x', 'info'],
    ];
    for (const args of cases) {
      const r = await rpmem(args);
      expect(r.status, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(/^rpmem: RPMEM_E_INVALID_ARGUMENT: [^\n]*\n$/);
    }
    expect((await rpmem([])).stderr).to.match(/no command given/);
  });

  it('failover-agent --check-config: file keys with flags over them, defaults filled in; bad keys and a broken timing rule exit 2', async () => {
    const dir = tempDir('agent-config');
    const file = path.join(dir, 'failover-agent.conf');
    fs.writeFileSync(
      file,
      [
        'etcd: [http://10.0.0.9:2379]',
        'group: app',
        'member: node1',
        'pool: /var/lib/app/pool',
        'replica: [n2:7420/app, n3:7420/app]',
        'ttl: 6',
        '',
      ].join('\n'),
    );
    const ok = await rpmem(['failover-agent', '--config', file, '--ttl', '9', '--check-config']);
    expect(ok.status, ok.stderr).to.equal(0);
    const config = JSON.parse(ok.stdout) as Record<string, unknown>;
    expect(config).to.deep.include({
      etcd: ['http://10.0.0.9:2379'],
      group: 'app',
      member: 'node1',
      pool: '/var/lib/app/pool',
      replicas: ['n2:7420/app', 'n3:7420/app'],
      ttlSeconds: 9,
      ack: 'majority',
      keyPrefix: '/rpmem/',
    });
    // The sample shipped beside rpmemd.conf is itself a valid config.
    const sample = await rpmem([
      'failover-agent',
      '--config',
      path.join(__dirname, '..', '..', 'deploy', 'failover-agent.conf'),
      '--check-config',
    ]);
    expect(sample.status, sample.stderr).to.equal(0);
    const cases: Array<[string[], RegExp]> = [
      [['--config', file, '--ttl', '1'], /ttlSeconds must be .* at least 2/],
      [['--config', file, '--loop-wait-ms', '4000', '--retry-timeout-ms', '2000'], /exceeds the TTL/],
      [['--config', file, '--ack', 'most'], /must be all, majority or a number/],
      [['--group', 'app', '--pool', '/p'], /"replica": is required/],
    ];
    for (const [args, message] of cases) {
      const r = await rpmem(['failover-agent', ...args, '--check-config']);
      expect(r.status, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(message);
    }
    expect(config.replicaConnection, 'plaintext to the replicas unless told').to.deep.equal({
      tls: false,
      clientCertificate: false,
      token: false,
    });
    // The replicas' connection keys may live in the file too (TLS, a client certificate, a token).
    const certs = testCerts();
    fs.writeFileSync(path.join(dir, 'token'), 'agent-token\n');
    const connection = [
      `tls-ca: ${certs.caCert}`,
      `tls-cert: ${certs.clientCert}`,
      `tls-key: ${certs.clientKey}`,
      `token-file: ${path.join(dir, 'token')}`,
    ];
    fs.appendFileSync(file, connection.join('\n') + '\n');
    const secure = await rpmem(['failover-agent', '--config', file, '--check-config']);
    expect(secure.status, secure.stderr).to.equal(0);
    expect((JSON.parse(secure.stdout) as Record<string, unknown>).replicaConnection).to.deep.equal({
      tls: true,
      clientCertificate: true,
      token: true,
    });
    fs.appendFileSync(file, 'call-timeout-ms: 1500\n');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(`tls-ca: ${certs.caCert}`, `tls-ca: ${path.join(dir, 'missing.pem')}`));
    const missing = await rpmem(['failover-agent', '--config', file, '--check-config']);
    expect(missing.status).to.equal(2);
    expect(missing.stderr).to.match(/tls-ca .*missing\.pem/);
    fs.writeFileSync(file, 'group: app\npool: /p\nreplica: [n2:7420/app]\nttll: 5\n');
    const unknown = await rpmem(['failover-agent', '--config', file, '--check-config']);
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.match(/"ttll": unknown key/);
  });

  it('reaches a TLS target with a token from --token-file or RPMEM_TOKEN', async () => {
    const certs = testCerts();
    const dir = tempDir('cli-auth');
    const token = 'cli-token-0123456789abcdef';
    fs.writeFileSync(path.join(dir, 'tokens.yaml'), `tokens:\n  - token: "${token}"\n`);
    fs.writeFileSync(path.join(dir, 'token'), `${token}\n`);
    const secure = await TestTarget.start({
      tls: { cert: certs.serverCert, key: certs.serverKey },
      args: ['--auth-token-file', path.join(dir, 'tokens.yaml')],
    });
    try {
      const s = ['--target', secure.address, '--tls-ca', certs.caCert];
      expect(json(await rpmem(['create', ...s, '--token-file', path.join(dir, 'token'), '--size', '64K', 'sealed', '--json']))).to.include({
        name: 'sealed',
      });
      process.env.RPMEM_TOKEN = token;
      try {
        expect((await rpmem(['ls', ...s, '--json'])).stdout).to.match(/"name":"sealed"/);
      } finally {
        delete process.env.RPMEM_TOKEN;
      }
      expect((await rpmem(['ls', ...s])).stderr).to.match(/^rpmem: RPMEM_E_UNAUTHENTICATED: /);
      expect((await rpmem(['ls', '--target', secure.address, '--token-file', path.join(dir, 'token')])).status).to.equal(1);
    } finally {
      await secure.stop();
    }
  });

  describe('on a replicated pool', () => {
    let a: TestTarget;
    let b: TestTarget;
    let local: string;
    let r: string[];

    before(async () => {
      [a, b] = await Promise.all([TestTarget.start(), TestTarget.start()]);
      local = path.join(tempDir('cli-local', SHM_DIR), 'primary.pool');
      r = ['--pool', local, '--replica', `${a.address}/rp`, '--replica', `${b.address}/rp`];
      const options = { replicas: [`${a.address}/rp`, `${b.address}/rp`], granularity: 'cache-line' as const };
      const both = await ReplicatedPool.open(local, { ...options, create: { size: 1 << 20 } });
      await both.persist(0, 4096);
      await both.close();
      // B misses three writes in three different 64 KiB blocks.
      await b.stop();
      const degraded = await ReplicatedPool.open(local, { ...options, ack: 1 });
      for (const at of [0, 128 << 10, 512 << 10]) {
        degraded.buffer.fill(0x5a, at, at + 100);
        await degraded.persist(at, 100);
      }
      await degraded.close();
      await b.restart();
    });

    after(async () => {
      await Promise.all([a.stop(), b.stop()]);
    });

    it('status reports the outdated replica and exits 1', async () => {
      const res = await rpmem(['status', ...r, '--json']);
      expect(res.status).to.equal(1);
      const report = json(res) as { healthy: boolean; replicas: Array<Record<string, unknown>> };
      expect(report.healthy).to.equal(false);
      expect(report.replicas[0]).to.include({
        replica: `${a.address}/rp`,
        reachable: true,
        disk: 'UpToDate',
        outOfSyncBlocks: 0,
        syncState: 'clean',
        open: false,
        epoch: '1',
        durability: 'emulated',
        granularity: 'cache-line',
      });
      expect(report.replicas[1]).to.include({
        replica: `${b.address}/rp`,
        reachable: true,
        disk: 'Outdated',
        outOfSyncBlocks: 3,
        outOfSyncBytes: 3 * 65536,
      });
      const human = (await rpmem(['status', ...r])).stdout;
      expect(human).to.match(
        new RegExp(
          `  ${b.address}/rp connection:Connected open:no\\n    peer-disk:Outdated epoch:1 history-epoch:1 lsn:\\d+ sync:clean out-of-sync:3 blocks \\(192\\.0 KiB\\) durability:emulated granularity:cache-line\n`,
        ),
      );
    });

    it('verify finds the differing blocks and exits 1', async () => {
      const res = await rpmem(['verify', ...r, '--json']);
      expect(res.status).to.equal(1);
      const report = json(res) as { identical: boolean; replicas: Array<{ replica: string; differing: unknown[] }> };
      expect(report.identical).to.equal(false);
      expect(report.replicas.map((x) => x.differing.length)).to.deep.equal([0, 3]);
    });

    it('resync copies exactly the marked blocks; status and verify are clean after it', async () => {
      const res = json(await rpmem(['resync', ...r, '--json'])) as { replicas: Array<Record<string, unknown>> };
      expect(res.replicas[0]).to.include({ replica: `${a.address}/rp`, blocksDone: 0, full: false });
      expect(res.replicas[1]).to.include({ replica: `${b.address}/rp`, blocksDone: 3, bytesCopied: 3 * 65536, full: false });
      expect((await rpmem(['status', ...r])).status).to.equal(0);
      const verify = await rpmem(['verify', ...r]);
      expect(verify.status).to.equal(0);
      expect(verify.stdout).to.match(/identical\n.*identical\n$/);
      const full = json(await rpmem(['resync', ...r, '--full', '--json'])) as { replicas: Array<Record<string, unknown>> };
      expect(full.replicas.map((x) => [x.full, x.blocksDone])).to.deep.equal([
        [true, 0],
        [true, 0],
      ]);
    });

    it('resync gives up on a replica that stays unreachable for --timeout seconds', async () => {
      const res = await rpmem(['resync', ...r, '--replica', '127.0.0.1:1/rp', '--timeout', '1']);
      expect(res.status).to.equal(1);
      expect(res.stderr).to.match(/^rpmem: RPMEM_E_UNAVAILABLE: unreachable for 1 s: 127\.0\.0\.1:1\/rp \((down|connecting)[^\n]*\n$/);
    });

    it('promote exits 1 and names the replicas when it cannot fence a majority, leaving no local pool', async () => {
      const next = path.join(tempDir('cli-lost', SHM_DIR), 'next.pool');
      const res = await rpmem([
        'promote',
        '--pool',
        next,
        '--replica',
        `${a.address}/rp`,
        '--replica',
        '127.0.0.1:1/rp',
        '--replica',
        '127.0.0.1:2/rp',
      ]);
      expect(res.status).to.equal(1);
      expect(res.stderr).to.match(
        /^rpmem: RPMEM_E_QUORUM: only 1 of 3 replicas reachable; promotion needs a majority \(2\): 127\.0\.0\.1:1\/rp RPMEM_E_UNAVAILABLE, 127\.0\.0\.1:2\/rp RPMEM_E_UNAVAILABLE\n$/,
      );
      expect(fs.existsSync(next)).to.equal(false);
      expect((await rpmem(['status', ...r])).status).to.equal(0);
    });

    it('promote fences the replicas for a new primary; the old one then shows them Fenced', async () => {
      const next = path.join(tempDir('cli-next', SHM_DIR), 'next.pool');
      const res = json(await rpmem(['promote', '--pool', next, '--replica', `${a.address}/rp`, '--replica', `${b.address}/rp`, '--json']));
      expect(res).to.include({ pool: next, epoch: '2', sourceHistoryEpoch: '1' });
      expect(res.fenced).to.have.members([`${a.address}/rp`, `${b.address}/rp`]);
      expect([`${a.address}/rp`, `${b.address}/rp`]).to.include(res.source);
      // The new primary holds the old one's data, not just its epoch (the three writes included).
      const promoted = fs.readFileSync(next).subarray(HEADER_BYTES);
      expect(promoted.subarray(128 << 10, (128 << 10) + 100).equals(Buffer.alloc(100, 0x5a))).to.equal(true);
      expect(promoted.equals(fs.readFileSync(local).subarray(HEADER_BYTES)), 'promoted data vs the old primary').to.equal(true);
      const old = await rpmem(['status', ...r, '--json']);
      expect(old.status).to.equal(1);
      expect((json(old) as { replicas: Array<{ disk: string }> }).replicas.map((x) => x.disk)).to.deep.equal(['Fenced', 'Fenced']);
    });
  });
});
