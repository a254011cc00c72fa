/**
 * The layers of src/ (docs/architecture.md) as .dependency-cruiser.cjs states them: storage below
 * the wire, the wire below the initiator and the target, neither side importing the other, no
 * cycles, nothing in src/ loading a test. The rules run on src/ and must find nothing, and on a
 * fixture with one violation of each, where they must find exactly those.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { expect } from 'chai';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'layers');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** The rules' violations among the modules under `cwd`/src, as "rule: from -> to". */
function violations(cwd: string): string[] {
  const run = spawnSync(process.execPath, [CLI, 'src', '--config', CONFIG, '--output-type', 'json'], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error !== undefined) throw run.error;
  if (run.stdout === '') throw new Error(`dependency-cruiser printed nothing (exit ${run.status}): ${run.stderr}`);
  const { summary } = JSON.parse(run.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  expect(summary.totalCruised, 'modules cruised').to.be.greaterThan(0);
  return summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

/** The packages of the wire that loading `module` (a path under dist/) brings in, in a fresh node. */
function wirePackagesLoadedBy(module: string): string[] {
  const probe = `require(${JSON.stringify(path.join(ROOT, 'dist', module))});
    const names = Object.keys(require.cache).map((k) => (k.match(/node_modules\\/((@[^/]+\\/)?[^/]+)/) || [])[1]);
    console.log(JSON.stringify([...new Set(names.filter((n) => /^(@grpc\\/|protobufjs$)/.test(n)))].sort()));`;
  const run = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`probe of ${module} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as string[];
}

describe('layer boundaries', function () {
  this.timeout(120_000);

  it('finds none crossed in src/', () => {
    expect(violations(ROOT)).to.deep.equal([]);
  });

  it('refuses exactly the fixture edge that breaks each rule', () => {
    expect(violations(FIXTURE)).to.deep.equal([
      'initiator-not-target-or-above: src/initiator/knows-cli.js -> src/cli/main.js',
      'no-cycles: src/wire/ring-a.js -> src/wire/ring-b.js',
      'src-not-tests: src/initiator/pool.js -> test/helper.js',
      'storage-knows-no-wire: src/storage/reaches-wire.js -> ../../../node_modules/@grpc/grpc-js/build/src/index.js',
      'storage-knows-no-wire: src/storage/reaches-wire.js -> src/wire/codec.js',
      'target-not-initiator-or-above: src/target/server.js -> src/initiator/pool.js',
      'wire-below-the-sides: src/wire/codec.js -> src/target/server.js',
    ]);
  });

  it('lets a local Pool load without gRPC or protobufjs, which a RemotePool does load', () => {
    expect(wirePackagesLoadedBy('src/initiator/pool.js')).to.deep.equal([]);
    expect(wirePackagesLoadedBy('src/initiator/remote-pool.js')).to.include.members(['@grpc/grpc-js', 'protobufjs']);
  });
});
