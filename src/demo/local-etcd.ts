/**
 * A single-member etcd on loopback for the demo: Debian's `etcd-server` binary, its data in a
 * temporary directory, free ports chosen at run time. Stopped (SIGTERM, then SIGKILL) by PID.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { RpmemError, ErrorCode } from '../storage/errors';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const STDERR_TAIL_CHARS = 4000;

/** The etcd binary to use: $RPMEM_DEMO_ETCD, else `etcd` on PATH; undefined when there is none. */
export function findEtcd(): string | undefined {
  const explicit = process.env.RPMEM_DEMO_ETCD;
  if (explicit !== undefined && explicit !== '') return explicit;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'etcd');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export class LocalEtcd {
  private constructor(
    private readonly child: ChildProcess,
    /** The client URL, e.g. `http://127.0.0.1:23790`. */
    readonly endpoint: string,
    private readonly exited: Promise<void>,
  ) {}

  /** Starts `binary` with its data under `dataDir`; resolves once it serves clients. */
  static async start(binary: string, dataDir: string, host = '127.0.0.1'): Promise<LocalEtcd> {
    const [clientPort, peerPort] = [await freePort(host), await freePort(host)];
    const client = `http://${host}:${clientPort}`;
    const peer = `http://${host}:${peerPort}`;
    const child = spawn(
      binary,
      [
        '--name',
        'demo',
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `demo=${peer}`,
        '--initial-cluster-state',
        'new',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let stderr = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new RpmemError(ErrorCode.TIMEOUT, `etcd did not serve within ${START_TIMEOUT_MS} ms: ${stderr}`));
      }, START_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new RpmemError(ErrorCode.UNAVAILABLE, `cannot run ${binary}: ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new RpmemError(ErrorCode.UNAVAILABLE, `etcd exited (${code ?? signal}) before serving: ${stderr}`));
      });
      child.stderr!.setEncoding('utf8').on('data', (text: string) => {
        stderr = (stderr + text).slice(-STDERR_TAIL_CHARS);
        if (!/ready to serve client requests/.test(stderr)) return;
        clearTimeout(timer);
        child.stderr!.removeAllListeners('data');
        child.stderr!.resume();
        resolve(new LocalEtcd(child, client, exited));
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves once it exited. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
