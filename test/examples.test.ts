/**
 * The runnable examples under examples/, end to end against two spawned targets, as the READMEs
 * tell a newcomer to run them (short runs).
 */
import { expect } from 'chai';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as path from 'path';
import { TestTarget } from './helpers/test-target';
import { SHM_DIR, tempDir } from './helpers/setup';

const EXAMPLES = path.join(__dirname, '..', 'examples');

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
    expect(r.stdout).to.match(/persisted 15 bytes at lsn \d+: durable locally \(cache-line\) and on 2 replicas/);
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
    expect(crashed.stdout).to.match(/recovered 20 record\(s\)[\s\S]*crashing after 2 append\(s\), with record 23 durable but not acknowledged/);

    const recovered = example('append-log', [...args, '--append', '1']);
    expect(recovered.status, recovered.stderr).to.equal(0);
    expect(recovered.stdout).to.match(/recovered 22 record\(s\)\nlast: record 22 from pid \d+\nignored 1 record past the tail: written, never acknowledged\nappended 1; the log holds 23 record\(s\)/);
  });
});
