/**
 * Automatic failover through etcd (docs/design.md I5, I8), with real processes: a real etcd, three
 * rpmemd on 127.0.0.2-4, and two FailoverCandidate processes writing stamped records while elected.
 * Each scenario injects one fault into the primary or etcd, proves it happened, proves the other
 * candidate (or, after etcd's return, some candidate) was elected and acknowledged records after
 * it, and checks the whole history: one primary acknowledges at a time in epoch order, the old
 * primary acknowledges nothing after the new one's first ack, and every acknowledged record is in
 * the new primary's pool at its election and on a majority of replicas and the last primary's
 * pool at the end.
 */
import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { PassThrough, Readable } from 'stream';
import { runCli } from '../src/cli/run';
import { newClaim } from '../src/storage/epoch-claim';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { DEFAULT_KEY_PREFIX } from '../src/initiator/failover/candidate-options';
import { clusterKeys } from '../src/initiator/failover/cluster-keys';
import { bumpEpoch, readEpoch } from '../src/initiator/failover/epoch-counter';
import { connectEtcd } from '../src/initiator/failover/etcd-client';
import { LeaderLease } from '../src/initiator/failover/leader-lease';
import { Pool } from '../src/initiator/pool';
import { RemotePool } from '../src/initiator/remote-pool';
import { CandidateProcess, Election, History, checkHistory, highestAcked, missing, monoNs } from './helpers/candidate-group';
import { TestEtcd } from './helpers/etcd';
import { LeaderWatch } from './helpers/leader-watch';
import { procState } from './helpers/proc-state';
import { SHM_DIR, tempDir } from './helpers/setup';
import { SLOT_BYTES, SLOTS, stampAt } from './helpers/stamps';
import { TcpProxy } from './helpers/tcp-proxy';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';

const POOL_BYTES = SLOTS * SLOT_BYTES;
const TTL_SECONDS = 3;
/** Each scenario runs this many times, with fresh pools and groups. */
const LOOPS = 3;
/** Acks a primary must collect to count as serving. */
const SERVING_ACKS = 50;
/** Generous bound for an election + promotion on this noisy machine: TTL, a campaign, a promotion. */
const TAKEOVER_MS = 30_000;

interface Run {
  history: History;
  candidates: Map<string, CandidateProcess>;
  replicas: string[];
  name: string;
  localPath: (member: string) => string;
}

describe('automatic failover through etcd', function () {
  this.timeout(120_000);
  let etcd: TestEtcd;
  const targets: TestTarget[] = [];
  let runs = 0;
  let current: Run | undefined;
  const histories: number[] = [];
  let lateDeliveries = 0;

  before(async function () {
    etcd = await TestEtcd.start();
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) targets.push(await TestTarget.start({ host }));
  });

  afterEach(async function () {
    if (current === undefined) return;
    if (this.currentTest?.state === 'failed') {
      for (const c of current.candidates.values())
        process.stderr.write(
          `candidate ${c.member} stderr: ${c.stderr}\nwarnings: ${current.history.warnings
            .filter((w) => w.startsWith(c.member))
            .slice(-8)
            .join('\n')}\n`,
        );
    }
    await Promise.all([...current.candidates.values()].map((c) => c.kill()));
    current = undefined;
  });

  after(async function () {
    await Promise.all(targets.map((t) => t.stop()));
    await etcd.stop();
  });

  /** Creates the replicas, starts candidates `a` and `b` (a's etcd URL may be a proxy's), waits for a primary that serves. */
  async function begin(
    etcdFor: (member: string) => string = () => etcd.url,
  ): Promise<Run & { primary: CandidateProcess; standby: CandidateProcess; elected: Election }> {
    runs += 1;
    const name = `fo${runs}`;
    await Promise.all(targets.map(async (t) => (await RemotePool.create(t.address, name, { size: POOL_BYTES })).close()));
    const replicas = targets.map((t) => `${t.address}/${name}`);
    const dir = tempDir('failover', SHM_DIR);
    const localPath = (member: string): string => path.join(dir, `${member}.pool`);
    const history = new History();
    const candidates = new Map<string, CandidateProcess>();
    for (const member of ['a', 'b']) {
      candidates.set(
        member,
        new CandidateProcess(
          member,
          { path: localPath(member), replicas, etcd: etcdFor(member), group: name, ttlSeconds: TTL_SECONDS },
          history,
        ),
      );
    }
    await waitFor(() => history.elections.length > 0 && history.acks.length >= SERVING_ACKS, TAKEOVER_MS, 'a first primary serving');
    const elected = history.elections[0];
    const primary = candidates.get(elected.member)!;
    const standby = [...candidates.values()].find((c) => c !== primary)!;
    await waitFor(() => history.changesOf(standby.member, 'standby').length > 0, TAKEOVER_MS, 'the other candidate standing by');
    current = { history, candidates, replicas, name, localPath };
    return { ...current, primary, standby, elected };
  }

  /** Waits until `member` (not `old`) was elected after `afterNs` and acknowledged SERVING_ACKS records; returns its election. */
  async function takeover(run: Run, old: string, afterNs: bigint): Promise<Election> {
    await waitFor(
      () => {
        const e = run.history.electionsExcept(old, afterNs)[0];
        return e !== undefined && run.history.acksOf(e.member, e.ns).filter((a) => a.epoch === e.epoch).length >= SERVING_ACKS;
      },
      TAKEOVER_MS,
      `a new primary serving after the fault (warnings: ${run.history.warnings.slice(-5).join(' | ')})`,
    );
    return run.history.electionsExcept(old, afterNs)[0];
  }

  /** Kills every candidate, checks the history and that every acknowledged record is on a majority and in the last primary's pool. */
  async function finish(run: Run): Promise<void> {
    await Promise.all([...run.candidates.values()].map((c) => c.kill()));
    const terms = checkHistory(run.history);
    histories.push(terms);
    const acked = highestAcked(run.history.acks);
    const held = await Promise.all(targets.map((t) => readSlots(t.address, run.name)));
    for (let slot = 0; slot < SLOTS; slot++) {
      if (acked[slot] < 0) continue;
      const holding = held.filter((h) => h[slot] >= acked[slot]).length;
      expect(holding, `slot ${slot}: record ${acked[slot]} on ${holding} of 3 replicas`).to.be.at.least(2);
    }
    const last = run.history.elections[run.history.elections.length - 1];
    const local = await Pool.open(run.localPath(last.member));
    try {
      expect(
        missing(
          acked,
          Array.from({ length: SLOTS }, (_, s) => stampAt(local.buffer, s) ?? -1),
        ),
        `acked records missing from ${last.member}'s pool`,
      ).to.deep.equal([]);
    } finally {
      await local.close();
    }
  }

  for (let loop = 1; loop <= LOOPS; loop++) {
    it(`SIGKILL of the primary under load: the standby takes over, nothing acknowledged is lost (run ${loop})`, async function () {
      const run = await begin();
      const { primary, standby } = run;
      // Stamped once the signal is pending: a primary running on the other core prints acks until then.
      primary.signal('SIGKILL');
      const killedAt = monoNs();
      expect((await primary.exited).signal, 'the primary died of SIGKILL').to.equal('SIGKILL');
      const next = await takeover(run, primary.member, killedAt);
      expect(next.member).to.equal(standby.member);
      expect(next.epoch > run.elected.epoch, 'the new primary has a higher epoch').to.equal(true);
      expect(run.history.acksOf(primary.member, killedAt), 'no ack of a dead primary').to.deep.equal([]);
      await finish(run);
    });

    it(`SIGSTOP of the primary past its TTL: the standby takes over and writes; after SIGCONT the old one gets no ack and rejoins as standby (run ${loop})`, async function () {
      const run = await begin();
      const { primary, standby } = run;
      const before = run.history.acksOf(primary.member).length;
      primary.signal('SIGSTOP');
      const stoppedAt = monoNs();
      await waitFor(() => procState(primary.pid) === 'T', 5000, 'the primary stopped');
      const next = await takeover(run, primary.member, stoppedAt);
      expect(next.member).to.equal(standby.member);
      expect(procState(primary.pid), 'the old primary was stopped all along').to.equal('T');
      const firstNewAck = run.history.acksOf(next.member, next.ns)[0].ns;
      const resumedAt = monoNs();
      primary.signal('SIGCONT');
      await waitFor(
        () =>
          run.history.changesOf(primary.member, 'demoted', resumedAt).length > 0 &&
          run.history.changesOf(primary.member, 'standby', resumedAt).length > 0,
        15_000,
        'the old primary demoted itself and stood by',
      );
      // The new primary goes on acknowledging after the old one woke up.
      await waitFor(() => run.history.acksOf(next.member, resumedAt).length >= SERVING_ACKS, 15_000, 'new primary acks after SIGCONT');
      expect(before, 'the old primary had acknowledged records before the stop').to.be.at.least(SERVING_ACKS);
      const marks = { stopped: stoppedAt, 'first ack of the new primary': firstNewAck, resumed: resumedAt };
      expect(
        run.history.acksOf(primary.member, firstNewAck),
        `acks of the old primary after the new one wrote; timeline:\n${run.history.timeline(marks)}`,
      ).to.deep.equal([]);
      // Acks decided before the stop whose callback ran after SIGCONT: allowed (their records were
      // durable on the replicas that acked, before the successor fenced them); finish() checks
      // the successor holds them. Counted for the report.
      lateDeliveries += run.history.lateDeliveries(primary.member, stoppedAt, resumedAt).length;
      await finish(run);
    });

    it(`primary cut from etcd: it stops acknowledging before its lease expires, the standby takes over, the old one rejoins (run ${loop})`, async function () {
      const proxies = new Map<string, TcpProxy>();
      let watch: LeaderWatch | undefined;
      for (const member of ['a', 'b']) proxies.set(member, await TcpProxy.start(`${etcd.host}:${etcd.clientPort}`));
      try {
        const run = await begin((member) => `http://${proxies.get(member)!.address}`);
        watch = await LeaderWatch.start(etcd.url, run.name);
        const { primary, standby } = run;
        const proxy = proxies.get(primary.member)!;
        const cutAt = monoNs();
        proxy.cut();
        const next = await takeover(run, primary.member, cutAt);
        expect(next.member).to.equal(standby.member);
        expect(primary.running, 'the cut primary is still running').to.equal(true);
        const demoted = run.history.changesOf(primary.member, 'demoted', cutAt);
        expect(demoted, 'the cut primary demoted itself').to.have.length(1);
        expect(demoted[0].ns < next.ns, 'it demoted itself before the standby was elected').to.equal(true);
        const firstNewAck = run.history.acksOf(next.member, next.ns)[0].ns;
        expect(run.history.acksOf(primary.member, firstNewAck), 'acks of the cut primary after the new one wrote').to.deep.equal([]);
        // Self-fencing (I8): the cut primary stops acknowledging before its lease expires, not only
        // once the new primary fences the replicas (the second wall, a little later).
        const expired = watch.deletedAfter(cutAt);
        expect(expired, "the cut primary's leader key expired").to.not.equal(undefined);
        expect(watch.takenBy(standby.member, expired!), 'the standby took the key after it expired').to.not.equal(undefined);
        expect(run.history.acksOf(primary.member, expired!), 'acks of the cut primary after its lease expired').to.deep.equal([]);
        expect(run.history.acksOf(primary.member).length, 'the cut primary had acknowledged records').to.be.at.least(SERVING_ACKS);
        const restoredAt = monoNs();
        proxy.restore();
        await waitFor(
          () => run.history.changesOf(primary.member, 'standby', restoredAt).length > 0,
          15_000,
          'the old primary rejoined as standby',
        );
        await finish(run);
      } finally {
        await watch?.close();
        await Promise.all([...proxies.values()].map((p) => p.close()));
      }
    });

    it(`SIGKILL of etcd: the primary stops acknowledging, and after etcd restarts a primary is elected at a higher epoch and serves (run ${loop})`, async function () {
      const run = await begin();
      const { primary } = run;
      const killedAt = monoNs();
      await etcd.kill();
      expect(etcd.running).to.equal(false);
      await waitFor(
        () => run.history.changesOf(primary.member, 'demoted', killedAt).length > 0,
        TTL_SECONDS * 1000 + 10_000,
        'the primary demoted itself without etcd',
      );
      const demotedAt = run.history.changesOf(primary.member, 'demoted', killedAt)[0].ns;
      const quiet = monoNs();
      await new Promise((r) => setTimeout(r, 500));
      expect(
        run.history.acks.filter((a) => a.ns > demotedAt),
        'acks while etcd is down, after the demotion',
      ).to.deep.equal([]);
      expect(quiet > demotedAt).to.equal(true);
      const restartedAt = monoNs();
      await etcd.restart();
      await waitFor(
        () => {
          const e = run.history.elections.find((x) => x.ns > restartedAt);
          return e !== undefined && run.history.acks.filter((a) => a.epoch === e.epoch).length >= SERVING_ACKS;
        },
        TAKEOVER_MS,
        'a primary serving after etcd restarted',
      );
      const next = run.history.elections.find((x) => x.ns > restartedAt)!;
      expect(next.epoch > run.elected.epoch, 'the epoch grew across the etcd restart').to.equal(true);
      await finish(run);
    });
  }

  it('two failovers in a row: the killed primary restarts, rejoins as standby, and takes over when the second primary is killed', async function () {
    const run = await begin();
    const { primary: first, standby: second } = run;
    const firstKilledAt = monoNs();
    first.signal('SIGKILL');
    expect((await first.exited).signal).to.equal('SIGKILL');
    const secondTerm = await takeover(run, first.member, firstKilledAt);
    expect(secondTerm.member).to.equal(second.member);
    const restartedAt = monoNs();
    const again = new CandidateProcess(
      first.member,
      { path: run.localPath(first.member), replicas: run.replicas, etcd: etcd.url, group: run.name, ttlSeconds: TTL_SECONDS },
      run.history,
    );
    run.candidates.set(first.member, again);
    await waitFor(
      () => run.history.changesOf(first.member, 'standby', restartedAt).length > 0,
      TAKEOVER_MS,
      'the restarted candidate standing by',
    );
    const secondKilledAt = monoNs();
    second.signal('SIGKILL');
    expect((await second.exited).signal).to.equal('SIGKILL');
    const thirdTerm = await takeover(run, second.member, secondKilledAt);
    expect(thirdTerm.member, 'the restarted old primary took over').to.equal(first.member);
    expect(thirdTerm.epoch > secondTerm.epoch && secondTerm.epoch > run.elected.epoch, 'epochs grow term by term').to.equal(true);
    expect(checkHistory(run.history), 'three terms acknowledged').to.equal(3);
    await finish(run);
  });

  it('epochs from etcd start above one a manual promotion used, and only grow', async function () {
    runs += 1;
    const name = `fo${runs}`;
    await Promise.all(targets.map(async (t) => (await RemotePool.create(t.address, name, { size: POOL_BYTES })).close()));
    // An operator promoted by hand at epoch 7 before the group existed: a claim of 1 would be refused.
    const manual = newClaim(7n);
    await Promise.all(targets.map((t) => RemotePool.fence(t.address, name, manual)));
    const history = new History();
    const dir = tempDir('failover', SHM_DIR);
    const replicas = targets.map((t) => `${t.address}/${name}`);
    const a = new CandidateProcess(
      'a',
      { path: path.join(dir, 'a.pool'), replicas, etcd: etcd.url, group: name, ttlSeconds: TTL_SECONDS },
      history,
    );
    current = { history, candidates: new Map([['a', a]]), replicas, name, localPath: (m) => path.join(dir, `${m}.pool`) };
    await waitFor(() => history.elections.length > 0, TAKEOVER_MS, 'the candidate elected');
    expect(history.elections[0].epoch).to.equal(8n);
    expect(
      history.warnings.filter((w) => w.includes('RPMEM_E_FENCED')),
      'claims refused on the way',
    ).to.deep.equal([]);
    const client = connectEtcd({ hosts: [etcd.url] }, 5000);
    try {
      const keys = clusterKeys(DEFAULT_KEY_PREFIX, name);
      expect(await readEpoch(client, keys), 'the counter holds the epoch it handed out').to.equal(8n);
      // Only the holder of the leader key may bump the counter: a stale term's revision is refused.
      const leader = (await client.get(keys.leader).exec()).kvs[0];
      let refused: unknown;
      await bumpEpoch(client, keys, String(Number(leader.create_revision) - 1), 0n).catch((err) => (refused = err));
      expect((refused as RpmemError).code).to.equal(ErrorCode.FENCED);
      expect(await readEpoch(client, keys), 'a refused bump changed nothing').to.equal(8n);
      // Positive control: the current term's revision bumps it, above the floor given.
      expect(await bumpEpoch(client, keys, leader.create_revision, 20n)).to.equal(21n);
    } finally {
      client.close();
    }
  });

  it('leader key under contention: of 8 simultaneous campaigns exactly one wins, 20 times over', async function () {
    const keys = clusterKeys(DEFAULT_KEY_PREFIX, `contention${++runs}`);
    const clients = Array.from({ length: 8 }, () => connectEtcd({ hosts: [etcd.url] }, 5000));
    try {
      for (let round = 0; round < 20; round++) {
        const outcomes = await Promise.all(clients.map((c, i) => LeaderLease.campaign(c, keys, `m${i}`, 2, 5000)));
        const winners = outcomes.flatMap((o, i) => (o.won ? [{ i, lease: o.lease }] : []));
        expect(winners, `round ${round}: winners`).to.have.length(1);
        const holder = await clients[0].get(keys.leader).string();
        expect(holder).to.equal(`m${winners[0].i}`);
        for (const o of outcomes) if (!o.won) expect([holder, undefined]).to.include(o.leader);
        await winners[0].lease.revoke();
        expect(await clients[0].get(keys.leader).string(), 'revoking the lease deletes the key').to.equal(null);
      }
    } finally {
      clients.forEach((c) => c.close());
    }
  });

  it('rpmem failover-agent from a config file is elected; rpmem status --etcd shows it as primary with its epoch and lease; SIGTERM steps down', async function () {
    runs += 1;
    const name = `fo${runs}`;
    await Promise.all(targets.map(async (t) => (await RemotePool.create(t.address, name, { size: POOL_BYTES })).close()));
    const replicas = targets.map((t) => `${t.address}/${name}`);
    const dir = tempDir('agent', SHM_DIR);
    const config = path.join(dir, 'failover-agent.conf');
    fs.writeFileSync(
      config,
      [
        `etcd: [${etcd.url}]`,
        `group: ${name}`,
        'member: agent1',
        `pool: ${path.join(dir, 'agent1.pool')}`,
        'replica:',
        ...replicas.map((r) => `  - ${r}`),
        `ttl: ${TTL_SECONDS}`,
        '',
      ].join('\n'),
    );
    const agent = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'cli', 'main.js'), 'failover-agent', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: Array<Record<string, string>> = [];
    readline.createInterface({ input: agent.stdout! }).on('line', (l) => events.push(JSON.parse(l) as Record<string, string>));
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => events.some((e) => e.event === 'elected'), TAKEOVER_MS, 'the agent elected');
      const epoch = events.find((e) => e.event === 'elected')!.epoch;
      const stdout = new PassThrough();
      const chunks: Buffer[] = [];
      stdout.on('data', (c: Buffer) => chunks.push(c));
      const code = await runCli(['status', '--etcd', etcd.url, '--group', name, '--json'], {
        stdin: Readable.from([]),
        stdout,
        stderr: new PassThrough(),
      });
      const status = JSON.parse(Buffer.concat(chunks).toString()) as {
        leader: string;
        epoch: string;
        leaseTtlSeconds: number;
        replicas: Array<{ epoch: string }>;
        healthy: boolean;
      };
      expect(code, 'status exit code').to.equal(0);
      expect(status.leader).to.equal('agent1');
      expect(status.epoch).to.equal(epoch);
      expect(status.leaseTtlSeconds).to.be.within(0, TTL_SECONDS);
      expect(status.replicas.map((r) => r.epoch)).to.deep.equal([epoch, epoch, epoch]);
      agent.kill('SIGTERM');
      expect(await exited, 'the agent exits 0 on SIGTERM').to.equal(0);
      expect(events.map((e) => e.event)).to.include.members(['started', 'elected', 'demoted', 'stopped']);
      const afterStop = new PassThrough();
      const code2 = await runCli(['status', '--etcd', etcd.url, '--group', name], {
        stdin: Readable.from([]),
        stdout: afterStop,
        stderr: new PassThrough(),
      });
      expect(code2, 'no primary once the agent revoked its lease').to.equal(1);
    } finally {
      agent.kill('SIGKILL');
    }
  });

  after(function () {
    // Not an assertion: how many histories and terms were checked, for the report.
    process.stdout.write(
      `      failover-etcd: ${histories.length} histories checked, ${histories.reduce((s, n) => s + n, 0)} acknowledged terms, ${lateDeliveries} ack(s) of a SIGSTOPped primary delivered after SIGCONT\n`,
    );
  });
});

async function readSlots(address: string, name: string): Promise<number[]> {
  const pool = await RemotePool.open(address, name, { readOnly: true });
  try {
    const data = await pool.read(0, POOL_BYTES);
    return Array.from({ length: SLOTS }, (_, s) => stampAt(data, s) ?? -1);
  } finally {
    await pool.close();
  }
}
