/**
 * The demo behind `npm start`: the main job of rpmem on one machine, in well under a minute.
 *
 * 1. Three local rpmemd targets; node-a, a child process, replicates a pool to them at
 *    `ack: majority` and appends self-checking records (records.ts).
 * 2. One target is SIGKILLed: the pool is degraded and persists go on (two of three ack). It is
 *    restarted on its address and resynced incrementally (only the blocks it missed).
 * 3. node-a is SIGKILLed; node-b, a standby, takes over: elected through a local etcd when an `etcd`
 *    binary is on PATH (or $RPMEM_DEMO_ETCD), else promoted with `promote()`, and appends on.
 * 4. Every record either primary reported acknowledged is read back from the new primary's pool
 *    and from every replica. Summary: records acknowledged, records lost, failover time.
 *
 * RPMEM_DEMO_FAILOVER=promote takes the promote path even when etcd is available.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Pool } from '../initiator/pool';
import { RemotePool } from '../initiator/remote-pool';
import { parseReplica } from '../initiator/replica';
import { DaemonProcess } from '../target/daemon-process';
import type { CandidateMessage } from './candidate';
import { DemoNode } from './demo-node';
import { failoverPlan } from './failover-plan';
import { recordIntact } from './records';

const POOL_BYTES = 4 * 1024 * 1024;
const RECORDS_PER_SECOND = 400;
const ACKS_PER_PHASE = 300;
const PHASE_TIMEOUT_MS = 20_000;

const T0 = Date.now();

function say(message: string): void {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}

const isType =
  <K extends CandidateMessage['type']>(type: K) =>
  (m: CandidateMessage): m is Extract<CandidateMessage, { type: K }> =>
    m.type === type;
const isEvent =
  (event: string, replica?: string) =>
  (m: CandidateMessage): boolean =>
    m.type === 'event' && m.event === event && (replica === undefined || m.replica === replica);

/** Acknowledged records (number → epoch of the primary that acknowledged it) not intact in `area` as that primary wrote them. */
function lostIn(area: Buffer, acked: Map<number, bigint>): number {
  let lost = 0;
  for (const [n, epoch] of acked) if (!recordIntact(area, n, epoch)) lost++;
  return lost;
}

async function readReplica(spec: string): Promise<Buffer> {
  const { target, name } = parseReplica(spec);
  const remote = await RemotePool.open(target, name, { readOnly: true });
  try {
    return await remote.read(0, remote.size);
  } finally {
    await remote.close();
  }
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rpmem-demo-'));
  const targets: DaemonProcess[] = [];
  const nodes: DemoNode[] = [];
  const plan = failoverPlan(base);
  try {
    const dirs = [1, 2, 3].map((i) => fs.mkdirSync(path.join(base, `target${i}`), { recursive: true })!);
    targets.push(...(await Promise.all(dirs.map((poolDir) => DaemonProcess.start({ poolDir })))));
    const replicas = targets.map((t) => `${t.address}/demo`);
    say(`three rpmemd targets: ${targets.map((t) => `${t.address} (pid ${t.pid})`).join(', ')}`);
    await plan.start(say);
    await plan.prepare(replicas, POOL_BYTES);

    const node = (name: string, first: boolean): DemoNode => {
      const n = new DemoNode(
        plan.configure(
          {
            name,
            pool: path.join(base, `${name}.pool`),
            poolBytes: POOL_BYTES,
            replicas,
            start: 'open',
            recordsPerSecond: RECORDS_PER_SECOND,
          },
          first,
        ),
      );
      nodes.push(n);
      return n;
    };
    // node-b starts once node-a leads, so that node-a is the first primary on either path.
    const a = node('node-a', true);
    const firstPrimary = await a.waitFor('its primary role', isType('primary'), PHASE_TIMEOUT_MS);
    const b = node('node-b', false);
    await b.waitFor('its standby role', isType('standby'), PHASE_TIMEOUT_MS);
    say(`${a.name} is primary at epoch ${firstPrimary.epoch} (${firstPrimary.how}), ack: majority; ${b.name} stands by`);
    await a.waitAcks(ACKS_PER_PHASE, PHASE_TIMEOUT_MS, 'with every replica up');
    say(`${a.acked.size} records acknowledged with all three replicas up`);

    // A target dies: two of three still make a majority.
    let mark = a.messages.length;
    const victim = 2;
    const { address, pid } = targets[victim];
    await targets[victim].kill();
    say(`SIGKILLed target ${address} (pid ${pid})`);
    const down = await a.waitFor(`replica-down for ${replicas[victim]}`, isEvent('replica-down', replicas[victim]), PHASE_TIMEOUT_MS, mark);
    say(`${a.name}: replica-down ${replicas[victim]} (${down.type === 'event' ? down.detail : ''}); degraded`);
    const degradedFrom = a.acked.size;
    await a.waitAcks(ACKS_PER_PHASE, PHASE_TIMEOUT_MS, 'while degraded');
    say(`${a.acked.size - degradedFrom} more records acknowledged while degraded (majority = 2 of 3)`);

    // It comes back on its address: only what it missed is copied.
    mark = a.messages.length;
    targets[victim] = await DaemonProcess.start({ poolDir: dirs[victim], listen: address });
    say(`restarted target ${address} (pid ${targets[victim].pid})`);
    const resync = await a.waitFor(`resync-done for ${replicas[victim]}`, isEvent('resync-done', replicas[victim]), PHASE_TIMEOUT_MS, mark);
    say(`${a.name}: resync-done ${replicas[victim]}: ${resync.type === 'event' ? resync.detail : ''}`);
    await a.waitFor('restored', isEvent('restored'), PHASE_TIMEOUT_MS, mark);
    await a.waitAcks(ACKS_PER_PHASE, PHASE_TIMEOUT_MS, 'after the resync');
    say(`${a.name}: all replicas up again; ${a.acked.size} records acknowledged so far`);

    // The primary dies.
    const killedAt = Date.now();
    await a.kill();
    say(`SIGKILLed the primary ${a.name}; ${plan.takeoverHow}`);
    mark = b.messages.length;
    plan.afterPrimaryKilled(b);
    const second = await b.waitFor('its primary role', isType('primary'), PHASE_TIMEOUT_MS + plan.electionMs, mark);
    const firstAck = await b.waitFor('its first ack', isType('acked'), PHASE_TIMEOUT_MS, mark);
    const failoverMs = firstAck.firstAt - killedAt;
    const promotion = second.promotion as { source?: string; sourceLsn?: string; bytesCopied?: number } | undefined;
    say(
      `${b.name} is primary at epoch ${second.epoch} (${second.how}${promotion ? ` from ${promotion.source}, lsn ${promotion.sourceLsn}, ${promotion.bytesCopied} bytes copied` : ''}); continues at record ${second.first}`,
    );
    await b.waitAcks(ACKS_PER_PHASE, PHASE_TIMEOUT_MS, 'as the new primary');
    b.send('stop');
    const stopped = await b.waitFor('its stop', isType('stopped'), PHASE_TIMEOUT_MS);
    await b.exited;
    say(
      `${b.name} stopped after ${b.acked.size} records; replicas ${stopped.replicasIdentical ? 'identical to it (verify)' : `DIFFER: ${stopped.differing.join(', ')}`}`,
    );

    // Read everything back: the new primary's pool, then each replica on its own.
    const acked = new Map<number, bigint>();
    for (const n of a.acked) acked.set(n, BigInt(firstPrimary.epoch));
    for (const n of b.acked) acked.set(n, BigInt(second.epoch));
    const local = await Pool.open(b.config.pool);
    const lostLocal = lostIn(local.buffer, acked);
    await local.close();
    const lostReplicas = await Promise.all(replicas.map(async (r) => lostIn(await readReplica(r), acked)));
    // A record both acknowledged was overwritten by the new primary: node-a's is lost.
    const overwritten = [...a.acked].filter((n) => b.acked.has(n)).length;
    const lost = overwritten + Math.max(lostLocal, ...lostReplicas);

    console.log('');
    console.log('summary');
    console.log(`  failover path:        ${plan.summary}`);
    console.log(
      `  records acknowledged: ${acked.size} (${a.name} ${a.acked.size} at epoch ${firstPrimary.epoch}, ${b.name} ${b.acked.size} at epoch ${second.epoch})`,
    );
    console.log(
      `  records lost:         ${lost} (overwritten: ${overwritten}; read back from ${b.name}'s pool: ${lostLocal}; from each replica: ${lostReplicas.join(', ')})`,
    );
    console.log(`  failover time:        ${failoverMs} ms (SIGKILL of ${a.name} to the first ack of ${b.name})`);
    if (lost > 0 || !stopped.replicasIdentical) process.exitCode = 1;
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    await Promise.all(targets.map((t) => t.stop()));
    await plan.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  console.error(`rpmem demo failed: ${e.code ? e.code + ': ' : ''}${e.message ?? String(err)}`);
  process.exit(1);
});
