/**
 * The runnable examples under examples/, end to end against two spawned targets, as the READMEs
 * tell a newcomer to run them (short runs); and the `npm start` demo, on each failover path this
 * machine can take.
 */
import { expect } from 'chai';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as path from 'path';
import { etcdBinary } from './helpers/etcd';
import { TestTarget } from './helpers/test-target';
import { SHM_DIR, tempDir } from './helpers/setup';

const EXAMPLES = path.join(__dirname, '..', 'examples');
const DEMO = path.join(__dirname, '..', 'src', 'demo', 'main.js');
const DEMO_TIMEOUT_MS = 60_000;

function example(name: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [path.join(EXAMPLES, name, 'main.js'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, RPMEM_FORCE_GRANULARITY: 'cache-line' },
  });
}

describe('examples', () => {
  let a: TestTarget;
  let b: TestTarget;
  let dir: string;

  before(async () => {
    [a, b] = await Promise.all([TestTarget.start(), TestTarget.start()]);
    dir = tempDir('examples', SHM_DIR);
  });

  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it('replicated-pool persists a message to two targets and reads it back from each', () => {
    const r = example('replicated-pool', [path.join(dir, 'example.pool'), a.address, b.address, 'hello, replicas']);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      /persisted 15 bytes at lsn \d+: durable locally \(cache-line, emulated\) and on 2 replicas \(emulated, emulated\)/,
    );
    expect(r.stdout).to.include(`${a.address}/example holds: hello, replicas`);
    expect(r.stdout).to.include(`${b.address}/example holds: hello, replicas`);
    expect(example('replicated-pool', []).status).to.equal(2);
  });

  it('append-log recovers exactly the acknowledged records after a SIGKILL between record and tail', () => {
    const args = ['--pool', path.join(dir, 'log.pool'), '--replica', `${a.address}/log`, '--replica', `${b.address}/log`];
    const first = example('append-log', [...args, '--append', '20']);
    expect(first.status, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/recovered 0 record\(s\)\n.*appended 20; the log holds 20 record\(s\)/s);

    const crashed = example('append-log', [...args, '--append', '5', '--crash-after', '2']);
    expect(crashed.signal).to.equal('SIGKILL');
    expect(crashed.stdout).to.match(
      /recovered 20 record\(s\)[\s\S]*crashing after 2 append\(s\), with record 23 durable but not acknowledged/,
    );

    const recovered = example('append-log', [...args, '--append', '1']);
    expect(recovered.status, recovered.stderr).to.equal(0);
    expect(recovered.stdout).to.match(
      /recovered 22 record\(s\)\nlast: record 22 from pid \d+\nignored 1 record past the tail: written, never acknowledged\nappended 1; the log holds 23 record\(s\)/,
    );
  });
});

/** Runs the demo as `npm start` does (after the build), with `env` over the environment's RPMEM_DEMO_* and PATH. */
function demo(env: Record<string, string>): SpawnSyncReturns<string> {
  const base = { ...process.env };
  delete base.RPMEM_DEMO_FAILOVER;
  delete base.RPMEM_DEMO_ETCD;
  return spawnSync(process.execPath, [DEMO], {
    encoding: 'utf8',
    timeout: DEMO_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...base, ...env },
  });
}

/** The demo's story and summary: both primaries acknowledged records, none lost, read back everywhere. */
function checkDemo(r: SpawnSyncReturns<string>, failover: RegExp): void {
  const out = r.stdout;
  expect(r.status, `${out}\n${r.stderr}`).to.equal(0);
  expect(out).to.match(/node-a: replica-down \S+\/demo \(RPMEM_E_\w+\); degraded/);
  expect(out).to.match(/\d+ more records acknowledged while degraded/);
  expect(out).to.match(/node-a: resync-done \S+\/demo: incremental: /);
  expect(out).to.match(/SIGKILLed the primary node-a/);
  expect(out).to.match(failover);
  const acked = /records acknowledged: (\d+) \(node-a (\d+) at epoch (\d+), node-b (\d+) at epoch (\d+)\)/.exec(out);
  expect(acked, out).to.not.equal(null);
  const [total, byA, epochA, byB, epochB] = acked!.slice(1).map(Number);
  // Each phase waits for 300 acks: three of node-a's phases and one of node-b's.
  expect(byA).to.be.at.least(900);
  expect(byB).to.be.at.least(300);
  expect(total).to.equal(byA + byB);
  expect(epochB).to.be.above(epochA);
  expect(out).to.match(/records lost: +0 \(overwritten: 0; read back from node-b's pool: 0; from each replica: 0, 0, 0\)/);
  expect(out).to.match(/failover time: +\d+ ms/);
}

describe('npm start (src/demo)', function () {
  this.timeout(DEMO_TIMEOUT_MS + 10_000);

  it('without an etcd binary (a fresh machine) takes the promote path, says so, loses no acknowledged record', () => {
    // The demo spawns node by its own path, so an empty PATH hides only etcd.
    const r = demo({ PATH: tempDir('demo-no-etcd') });
    checkDemo(r, /failover path: +promote: no etcd binary on PATH/);
    expect(r.stdout).to.include('the demo promotes node-b');
  });

  it('with etcd (installed by the test helper when missing) fails over through etcd, loses no acknowledged record', () => {
    const r = demo({ RPMEM_DEMO_ETCD: etcdBinary() });
    checkDemo(r, /failover path: +etcd \(FailoverCandidate, two candidates, lease TTL 2 s/);
    expect(r.stdout).to.match(/node-b is primary at epoch \d+ \(elected from /);
  });
});
