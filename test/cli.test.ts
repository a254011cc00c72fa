/**
 * The rpmem CLI against a real rpmemd: each command once, --json output, exit codes, and one-line
 * errors without stack traces.
 */
import { expect } from 'chai';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { TestTarget } from './helpers/test-target';
import { tempDir } from './helpers/setup';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'main.js');

function rpmem(args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 30_000 });
}

describe('rpmem CLI', () => {
  let target: TestTarget;
  let t: string[];

  before(async () => {
    target = await TestTarget.start();
    t = ['--target', target.address];
  });

  after(async () => {
    await target.stop();
  });

  it('prints help with examples and exit codes', () => {
    const r = rpmem(['--help']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/Examples:/);
    expect(r.stdout).to.match(/Exit codes:/);
  });

  it('creates, writes, reads, describes and removes a pool', () => {
    const created = rpmem(['create', ...t, '--size', '1M', 'clipool', '--json']);
    expect(created.status, created.stderr).to.equal(0);
    expect(JSON.parse(created.stdout)).to.deep.include({ name: 'clipool', size: 1048576, granularity: 'cache-line' });

    const written = rpmem(['write', ...t, '--offset', '10', 'clipool', '--json'], 'hello from stdin');
    expect(written.status, written.stderr).to.equal(0);
    expect(JSON.parse(written.stdout)).to.deep.include({ offset: 10, length: 16, seq: '1' });
    expect(rpmem(['write', ...t, '--offset', '100', '--data', 'second', 'clipool']).stdout).to.match(/durable \(cache-line\), seq 2/);

    const read = rpmem(['read', ...t, '--offset', '10', '--length', '16', 'clipool']);
    expect(read.status, read.stderr).to.equal(0);
    expect(read.stdout).to.equal('hello from stdin');
    const out = path.join(tempDir('cli'), 'out.bin');
    expect(rpmem(['read', ...t, '--offset', '100', '--length', '6', '--out', out, 'clipool']).status).to.equal(0);
    expect(fs.readFileSync(out, 'utf8')).to.equal('second');

    const info = rpmem(['info', ...t, 'clipool', '--json']);
    expect(info.status, info.stderr).to.equal(0);
    expect(JSON.parse(info.stdout)).to.deep.include({ name: 'clipool', size: 1048576, durableSeq: '2', open: false });
    expect(rpmem(['info', ...t, 'clipool']).stdout).to.match(/durable seq:\s+2/);

    expect(rpmem(['remove', ...t, 'clipool']).status).to.equal(0);
    expect(fs.existsSync(target.poolPath('clipool'))).to.equal(false);
  });

  it('exits 1 with a one-line error naming the code when the operation fails', () => {
    const r = rpmem(['info', ...t, 'missing']);
    expect(r.status).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^rpmem: RPMEM_E_NO_POOL: /);
    expect(rpmem(['create', ...t, '--size', '1M', '../evil']).stderr).to.match(/RPMEM_E_BAD_NAME/);
  });

  it('exits 2 on bad usage', () => {
    expect(rpmem(['frobnicate', ...t, 'x']).status).to.equal(2);
    expect(rpmem(['create', ...t, 'nosize']).status).to.equal(2);
    expect(rpmem(['read', ...t, '--offset', 'x', '--length', '1', 'p']).status).to.equal(2);
    expect(rpmem([]).stderr).to.match(/no command given/);
  });
});
