/**
 * The initiator side of `profile.ts`, run as its own process (under `node --cpu-prof`): creates a
 * pool on the target at argv[2], prefills it, then keeps pipelined persists of one size going for
 * a fixed time (after a 0.5 s warm-up; it prints "measuring" when the measured part starts) and
 * prints one JSON line with the throughput and its own CPU time.
 *
 *   node --cpu-prof dist/bench/profile-driver.js HOST:PORT[,HOST:PORT...] SECONDS RANGE_BYTES POOL_BYTES MAX_MESSAGE_BYTES|"" remote|remote-qd1|replicated
 *
 * `remote-qd1` keeps one persist in flight (queue depth 1) instead of a pipeline.
 * `replicated` drives a ReplicatedPool over every address (ack 'all', local pool in a temp dir on
 * /dev/shm, removed at the end) instead of a RemotePool.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { RemotePool } from '../src/initiator/remote-pool';
import { ReplicatedPool } from '../src/initiator/replicated-pool';
import { runPipelined } from './loops';
import { RandomOffsets } from './offsets';
import { prefillRemote } from './rpmem';
import { selfCpuSeconds } from './proc';

const WINDOW_BYTES = 64 * 1024 * 1024;

async function measure(
  persist: (offset: number, data: Buffer) => Promise<unknown>,
  seconds: number,
  size: number,
  poolBytes: number,
  qd1 = false,
): Promise<void> {
  await prefillRemote(persist, poolBytes);
  const data = crypto.randomBytes(size);
  const offsets = new RandomOffsets(poolBytes, size, 0x77);
  const depth = qd1 ? 1 : Math.min(16_384, Math.ceil((1.25 * WINDOW_BYTES) / size));
  const issue = (): Promise<unknown> => persist(offsets.next(), data);
  await runPipelined(issue, { bytesPerOp: size, maxInflightOps: depth, maxOps: Number.MAX_SAFE_INTEGER, maxMs: 500 });
  // The parent samples rpmemd's CPU time at this line and at the result line.
  process.stdout.write('measuring\n');
  const cpu0 = selfCpuSeconds();
  const r = await runPipelined(issue, { bytesPerOp: size, maxInflightOps: depth, maxOps: Number.MAX_SAFE_INTEGER, maxMs: seconds * 1000 });
  const cpu = selfCpuSeconds() - cpu0;
  process.stdout.write(JSON.stringify({ ...r, initiatorCpuSeconds: cpu }) + '\n');
}

async function replicated(addresses: string[], seconds: number, size: number, poolBytes: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join('/dev/shm', 'rpmem-bench-profile-primary-'));
  try {
    const rp = await ReplicatedPool.open(path.join(dir, 'primary.pool'), {
      replicas: addresses.map((a) => `${a}/profile`),
      ack: 'all',
      create: { size: poolBytes },
      granularity: 'cache-line',
      maxInflightBytes: WINDOW_BYTES,
      openWaitMs: 60_000,
      callTimeoutMs: 30_000,
    });
    try {
      // The replicated pool persists its own buffer; the bytes given are ignored but for their length.
      await measure((offset, data) => rp.persist(offset, data.length), seconds, size, poolBytes);
    } finally {
      await rp.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [addressArg, secondsArg, sizeArg, poolArg, messageArg, kind] = process.argv.slice(2);
  const seconds = Number(secondsArg);
  const size = Number(sizeArg);
  const poolBytes = Number(poolArg);
  const addresses = addressArg.split(',');
  if (kind === 'replicated') return replicated(addresses, seconds, size, poolBytes);
  const address = addresses[0];
  const pool = await RemotePool.create(address, 'profile', {
    size: poolBytes,
    maxInflightBytes: WINDOW_BYTES,
    ...(messageArg ? { maxMessageBytes: Number(messageArg) } : {}),
  });
  try {
    await measure((offset, data) => pool.persist(offset, data), seconds, size, poolBytes, kind === 'remote-qd1');
  } finally {
    await pool.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`profile driver failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
