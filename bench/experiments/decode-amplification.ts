/**
 * Experiment: issue #10's attack 1. ATTACKERS connections each open a tiny pool and send one
 * PersistBatch of RANGES one-byte ranges (about 15 MiB, under max-message-bytes), while a good
 * client on its own connection calls Health and Stat every INTERVAL_MS and persists 4 KiB ranges
 * through a RemotePool one after the other. Prints the good client's latencies (median and max),
 * its failures, and the daemon's peak VmRSS and RssAnon.
 *
 *   node dist/bench/experiments/decode-amplification.js [ATTACKERS] [RANGES] [-- rpmemd flags]
 */
import * as os from 'os';
import * as path from 'path';
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { encodePersistRequest } from '../../src/wire/persist-codec';
import { PROTOCOL_VERSION } from '../../src/wire/protocol';
import { HEADER_BYTES } from '../../src/storage/pool-header';
import { TargetClient } from '../../src/initiator/target-client';
import { RemotePool } from '../../src/initiator/remote-pool';
import { DaemonProcess } from '../../src/target/daemon-process';
import { tinyRangesBatch } from '../../test/helpers/fuzz-frames';
import { processMemory } from '../proc';

const INTERVAL_MS = 50;
const WARMUP_MS = 2_000;
const ATTACK_WINDOW_MS = 40_000;
const GOOD_DEADLINE_MS = 60_000;
const ONE_CONNECTION = { 'grpc.use_local_subchannel_pool': 1 };

function stats(ms: number[]): string {
  if (ms.length === 0) return 'n=0';
  const s = [...ms].sort((a, b) => a - b);
  return `n=${s.length} median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms`;
}

function healthCheck(client: grpc.Client): Promise<void> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      { deadline: Date.now() + GOOD_DEADLINE_MS },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dash = argv.indexOf('--');
  const [attackers, ranges] = [Number(argv[0] ?? 32), Number(argv[1] ?? 850_000)];
  const flags = dash < 0 ? [] : argv.slice(dash + 1);
  const poolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'amplification-'));
  const daemon = await DaemonProcess.start({ poolDir, granularity: 'page', args: ['--log-level', 'warn', ...flags] });
  const batch = tinyRangesBatch(1n, ranges, HEADER_BYTES + 4096);
  process.stdout.write(
    `attack: ${attackers} connections x one batch of ${ranges} ranges (${(batch.length / 2 ** 20).toFixed(1)} MiB); rpmemd ${flags.join(' ')}\n`,
  );

  const good = new TargetClient(daemon.address, { channelOptions: ONE_CONNECTION, callTimeoutMs: GOOD_DEADLINE_MS });
  const writer = await RemotePool.create(daemon.address, 'good', {
    size: 1 << 20,
    channelOptions: ONE_CONNECTION,
    callTimeoutMs: GOOD_DEADLINE_MS,
    ackTimeoutMs: GOOD_DEADLINE_MS,
  });
  let writerLost: string | undefined;
  void writer.whenFailed().then((e) => (writerLost = e.code));
  const lat = { health: [] as number[], stat: [] as number[], persist: [] as number[] };
  const failures: string[] = [];
  let measuring = false;
  let stop = false;
  const record = (kind: keyof typeof lat, work: () => Promise<unknown>) => async () => {
    while (!stop) {
      const t0 = performance.now();
      await work().then(
        () => measuring && lat[kind].push(performance.now() - t0),
        (e: Error) => failures.push(`${kind}: ${e.message}`),
      );
      await new Promise((r) => setTimeout(r, kind === 'persist' ? 5 : INTERVAL_MS));
    }
  };
  const page = Buffer.alloc(4096, 1);
  const loops = [
    record('health', () => healthCheck(good.grpc)),
    record('stat', () => good.stat({ protocolVersion: PROTOCOL_VERSION, name: 'good' })),
    record('persist', () => writer.persist(0, page)),
  ].map((f) => f());

  let peakRss = 0;
  let peakAnon = 0;
  const sampler = setInterval(() => {
    const m = processMemory(daemon.pid);
    peakRss = Math.max(peakRss, m.vmRssBytes);
    peakAnon = Math.max(peakAnon, m.rssAnonBytes);
  }, 100);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const before = processMemory(daemon.pid);

  measuring = true;
  const outcomes: string[] = [];
  const attacks = Array.from({ length: attackers }, async (_, i) => {
    const c = new TargetClient(daemon.address, { channelOptions: ONE_CONNECTION, callTimeoutMs: GOOD_DEADLINE_MS });
    try {
      await c.create({ protocolVersion: PROTOCOL_VERSION, name: `bad${i}`, poolSize: HEADER_BYTES + 4096 });
      const { handle } = await c.open({ protocolVersion: PROTOCOL_VERSION, name: `bad${i}` });
      const call = c.grpc.makeBidiStreamRequest(
        '/rpmem.v1.Target/Persist',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      call.on('data', () => undefined);
      const status = new Promise<string>((resolve) =>
        call.on('status', (s: grpc.StatusObject) => resolve(`${grpc.status[s.code]} ${s.metadata.get('rpmem-code')[0] ?? ''}`)),
      );
      call.on('error', () => undefined);
      call.write(
        encodePersistRequest({ kind: 'start', start: { protocolVersion: PROTOCOL_VERSION, handle, epoch: 0n, claimant: Buffer.alloc(0) } }),
      );
      call.write(batch);
      call.end();
      outcomes.push(
        await Promise.race([status, new Promise<string>((r) => setTimeout(() => r('no status within the window'), ATTACK_WINDOW_MS))]),
      );
      call.cancel();
    } catch (e) {
      outcomes.push(`setup failed: ${(e as Error).message}`);
    } finally {
      c.close();
    }
  });
  const t0 = Date.now();
  await Promise.all(attacks);
  const attackMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 1_000));
  measuring = false;
  stop = true;
  await Promise.all(loops);
  clearInterval(sampler);

  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  process.stdout.write(`attack streams ended after ${attackMs} ms: ${[...counts].map(([o, n]) => `${n} x ${o}`).join(', ')}\n`);
  process.stdout.write(`good Health : ${stats(lat.health)}\ngood Stat   : ${stats(lat.stat)}\ngood persist: ${stats(lat.persist)}\n`);
  process.stdout.write(
    `good client failures: ${failures.length}${failures.length ? ` (${failures.slice(0, 3).join('; ')})` : ''}; writer lost: ${writerLost ?? 'no'}\n`,
  );
  process.stdout.write(
    `rpmemd VmRSS before ${(before.vmRssBytes / 2 ** 20).toFixed(0)} MiB, peak ${(peakRss / 2 ** 20).toFixed(0)} MiB; peak RssAnon ${(peakAnon / 2 ** 20).toFixed(0)} MiB\n`,
  );
  await writer.close().catch(() => undefined);
  good.close();
  await daemon.stop();
  fs.rmSync(poolDir, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
