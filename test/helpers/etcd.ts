/**
 * TestEtcd: a real single-member etcd (Debian's etcd-server 3.4) on loopback, on free ports chosen
 * at run time, with a temporary data dir; stopped by PID, and killable (SIGKILL) and restartable on
 * the same ports and data dir. When no `etcd` binary is on the machine it installs etcd-server with
 * apt-get (bounded in time): a fresh CI machine needs no manual step, and a test never skips.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { SHM_DIR, tempDir } from './setup';

const APT_TIMEOUT_MS = 300_000;
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3;

const running = new Set<TestEtcd>();

/** The path of the etcd binary, installing Debian's etcd-server first when there is none. */
export function etcdBinary(): string {
  const found = which('etcd');
  if (found !== undefined) return found;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'etcd-server']]) {
    const r = spawnSync('apt-get', args, { env, timeout: APT_TIMEOUT_MS, encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(
        `etcd is missing and "apt-get ${args.join(' ')}" failed (${r.error?.message ?? `exit ${r.status}, signal ${r.signal}`}): ${(r.stderr ?? '').slice(-2000)}`,
      );
    }
  }
  const installed = which('etcd');
  if (installed === undefined) throw new Error('apt-get installed etcd-server but no etcd binary is on PATH');
  return installed;
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/bin', '/usr/sbin')) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  return undefined;
}

async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class TestEtcd {
  private child?: ChildProcess;
  private exit?: Promise<void>;
  private stderr = '';

  private constructor(
    private readonly binary: string,
    readonly host: string,
    readonly clientPort: number,
    private readonly peerPort: number,
    readonly dataDir: string,
  ) {}

  /** Starts etcd on `host` (default 127.0.0.1), data dir in tmpfs; resolves once /health says true. */
  static async start(host = '127.0.0.1'): Promise<TestEtcd> {
    const binary = etcdBinary();
    let lastError: unknown;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const etcd = new TestEtcd(binary, host, await freePort(host), await freePort(host), tempDir('etcd', SHM_DIR));
      try {
        await etcd.launch();
        return etcd;
      } catch (err) {
        // Another process may have taken a port between freePort() and etcd's bind: try new ones.
        lastError = err;
        await etcd.stop();
      }
    }
    throw lastError;
  }

  /** The client URL, e.g. `http://127.0.0.1:23791`. */
  get url(): string {
    return `http://${this.host}:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines etcd wrote to stderr, for failure messages. */
  get log(): string {
    return this.stderr.slice(-4000);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILLs etcd and waits until it is gone. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after 5 s; waits until etcd is gone. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.signalAndWait('SIGTERM');
    clearTimeout(timer);
    running.delete(this);
  }

  /** Starts etcd again on the same ports and data dir (after kill or stop). */
  async restart(): Promise<void> {
    await this.launch();
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    await this.exit;
  }

  private async launch(): Promise<void> {
    const peer = `http://${this.host}:${this.peerPort}`;
    const child = spawn(
      this.binary,
      [
        '--name',
        'test',
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        this.url,
        '--advertise-client-urls',
        this.url,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `test=${peer}`,
        '--logger',
        'zap',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    this.stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-16_000);
    });
    this.exit = new Promise((resolve) => child.once('exit', () => resolve()));
    running.add(this);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (let i = 0; i < READY_TIMEOUT_MS / 50; i++) {
      if (!this.running) throw new Error(`etcd exited at start (code ${child.exitCode}, signal ${child.signalCode}): ${this.log}`);
      if (await this.healthy()) return;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd on ${this.url} not healthy within ${READY_TIMEOUT_MS} ms: ${this.log}`);
  }

  private healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.get(`${this.url}/health`, { timeout: 1000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  }
}

/** Stops every TestEtcd still running (mocha root hook safety net). */
export async function stopAllEtcd(): Promise<void> {
  await Promise.all([...running].map((e) => e.stop()));
}
