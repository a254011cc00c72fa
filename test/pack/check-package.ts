/**
 * `npm run test:pack`: the package as a user gets it. Packs the tree (prepack builds the
 * TypeScript and the prebuilt addon), checks what the tarball holds, installs it into an empty
 * project the way npm installs any dependency (its install script blocked, as npm does by
 * default), then from there: `rpmemd --version`, a real rpmemd, and a ReplicatedPool persist
 * through `require('rpmem')` read back from the target. Exits 1 naming the first check that failed.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';

const ROOT = path.join(__dirname, '..', '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const READY_MS = 30_000;

/** Paths that belong in the tarball, and prefixes that must not be in it. */
const REQUIRED = [
  'package.json',
  'LICENSE',
  'README.md',
  'CHANGELOG.md',
  'dist/src/index.js',
  'dist/src/index.d.ts',
  'dist/src/target/main.js',
  'proto/rpmem.proto',
  'binding.gyp',
  'native/addon.cc',
  `prebuilds/linux-x64/rpmem.node`,
];
const FORBIDDEN = [
  'test/',
  'dist/test/',
  'bench/',
  'dist/bench/',
  'dist/src/demo/',
  'dist/.tsbuildinfo',
  'docker-compose.yml',
  'build/',
  'src/',
  'examples/',
];

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
  process.stdout.write(`  ok  ${what}\n`);
}

function npm(args: string[], cwd: string): string {
  return execFileSync(NPM, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

function pack(into: string): { tarball: string; files: string[] } {
  // The prepack build first, on its own: its compiler output would otherwise mix into the JSON.
  execFileSync(NPM, ['run', 'prepack'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const [report] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', into], ROOT)) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  return { tarball: path.join(into, report.filename), files: report.files.map((f) => f.path) };
}

/** Starts the installed rpmemd on a free loopback port; resolves once it printed its address. */
function startDaemon(app: string, poolDir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    path.join(app, 'node_modules', '.bin', 'rpmemd'),
    ['--pool-dir', poolDir, '--listen', '127.0.0.1:0', '--insecure', '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rpmemd did not report its address within ${READY_MS} ms`)), READY_MS);
    child.once('exit', (code) => reject(new Error(`rpmemd exited with ${code} before listening`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^rpmemd listening on (\S+)$/.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      resolve({ child, address: m[1] });
    });
  });
}

/** What the empty project runs: a pool replicated to the daemon, persisted, read back from the target. */
const CLIENT = `
const { RemotePool, ReplicatedPool } = require('rpmem');
const [target, dir] = process.argv.slice(2);
(async () => {
  await (await RemotePool.create(target, 'packed', { size: 1 << 20 })).close();
  const pool = await ReplicatedPool.open(dir + '/local.pool', { replicas: [target + '/packed'], create: { size: 1 << 20 } });
  const text = Buffer.from('persisted through the installed package');
  text.copy(pool.buffer, 4096);
  const result = await pool.persist(4096, text.length);
  await pool.close();
  const remote = await RemotePool.open(target, 'packed', { readOnly: true });
  const back = await remote.read(4096, text.length);
  await remote.close();
  if (!back.equals(text)) throw new Error('the target holds other bytes: ' + back.toString());
  let deep = 'importable';
  try { require('rpmem/dist/src/target/server'); } catch (err) { deep = err.code; }
  process.stdout.write(JSON.stringify({ lsn: String(result.lsn), replicas: result.replicas.length, deep }) + '\\n');
})().catch((err) => { process.stderr.write(String(err.stack || err) + '\\n'); process.exit(1); });
`;

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rpmem-pack-'));
  let daemon: ChildProcess | undefined;
  try {
    const { tarball, files } = pack(work);
    process.stdout.write(`packed ${path.basename(tarball)}: ${files.length} files, ${(fs.statSync(tarball).size / 1024).toFixed(0)} KiB\n`);
    for (const f of REQUIRED) check(files.includes(f), `the tarball holds ${f}`);
    for (const prefix of FORBIDDEN)
      check(!files.some((f) => f === prefix || f.startsWith(prefix)), `the tarball holds nothing under ${prefix}`);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'empty-app', version: '1.0.0', private: true }));
    npm(['install', '--no-audit', '--no-fund', tarball], app);
    check(
      !fs.existsSync(path.join(app, 'node_modules', 'rpmem', 'build')),
      'the install compiled nothing (its install script is blocked by default; the prebuilt addon serves)',
    );
    const version = execFileSync(path.join(app, 'node_modules', '.bin', 'rpmemd'), ['--version'], { encoding: 'utf8' }).trim();
    const expected = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    check(version.includes(expected), `rpmemd --version from the installed package says ${version}`);

    const poolDir = path.join(work, 'pools');
    fs.mkdirSync(poolDir);
    const started = await startDaemon(app, poolDir);
    daemon = started.child;
    fs.writeFileSync(path.join(app, 'client.js'), CLIENT);
    const out = JSON.parse(
      execFileSync(process.execPath, ['client.js', started.address, work], { cwd: app, encoding: 'utf8', timeout: 60_000 }),
    ) as { lsn: string; replicas: number; deep: string };
    check(out.replicas === 1, `a persist through require('rpmem') was acknowledged by the installed rpmemd (lsn ${out.lsn}) and read back`);
    check(out.deep === 'ERR_PACKAGE_PATH_NOT_EXPORTED', `deep imports are closed by "exports" (${out.deep})`);
  } finally {
    daemon?.kill('SIGKILL');
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.stdout.write('test:pack passed\n'),
  (err: Error) => {
    process.stderr.write(`test:pack FAILED: ${err.message}\n`);
    process.exit(1);
  },
);
