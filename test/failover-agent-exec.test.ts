/**
 * `rpmem failover-agent --exec`: the agent supervises the application (docs/design.md I5, I8), with
 * real processes: a real etcd, three rpmemd on 127.0.0.2-4, two agents each running exec-app.ts
 * while elected. The agent promotes, releases the pool, starts the application (which opens the
 * pool under the agent's claim and writes write-once records), SIGKILLs its process group when the
 * term ends and stands by. Each scenario proves its fault happened, that the other agent's
 * application acknowledged records after it, that no application acknowledged after a successor's
 * first ack, and that every acknowledged record is on a majority of replicas and in the last
 * primary's pool at the end.
 */
import { expect } from 'chai';
import * as path from 'path';
import { Pool } from '../src/initiator/pool';
import { RemotePool } from '../src/initiator/remote-pool';
import { AgentEvent, AgentHistory, AgentProcess, AppLine } from './helpers/agent-process';
import { monoNs } from './helpers/candidate-group';
import { TestEtcd } from './helpers/etcd';
import { EXEC_APP_POOL_BYTES, EXEC_APP_SLOTS } from './helpers/exec-app-layout';
import { LeaderWatch } from './helpers/leader-watch';
import { procState } from './helpers/proc-state';
import { missingRecords } from './helpers/records';
import { SHM_DIR, tempDir } from './helpers/setup';
import { TcpProxy } from './helpers/tcp-proxy';
import { TestTarget } from './helpers/test-target';
import { waitFor } from './helpers/wait';

const TTL_SECONDS = 3;
/** Each fault scenario runs this many times, with fresh pools and groups. */
const LOOPS = 2;
/** Acks an application must collect to count as serving. */
const SERVING_ACKS = 50;
/** Generous bound for an election + promotion + application start on this noisy machine. */
const TAKEOVER_MS = 30_000;

interface Run {
  history: AgentHistory;
  agents: Map<string, AgentProcess>;
  name: string;
  localPath: (member: string) => string;
  primary: AgentProcess;
  standby: AgentProcess;
  /** The first primary's 'elected' event. */
  elected: AgentEvent;
}

function epochOf(e: AgentEvent): bigint {
  return BigInt(e.fields.epoch as string);
}

describe('failover-agent --exec: the agent supervises the application', function () {
  this.timeout(120_000);
  let etcd: TestEtcd;
  const targets: TestTarget[] = [];
  let runs = 0;
  let current: Run | undefined;

  before(async function () {
    etcd = await TestEtcd.start();
    for (const host of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) targets.push(await TestTarget.start({ host }));
  });

  afterEach(async function () {
    if (current === undefined) return;
    if (this.currentTest?.state === 'failed') {
      for (const a of current.agents.values()) {
        const events = current.history.events
          .filter((e) => e.member === a.member)
          .slice(-12)
          .map((e) => JSON.stringify(e.fields));
        process.stderr.write(`agent ${a.member} stderr: ${a.stderr}\nevents:\n${events.join('\n')}\n`);
      }
    }
    await Promise.all([...current.agents.values()].map((a) => a.kill()));
    current = undefined;
  });

  after(async function () {
    await Promise.all(targets.map((t) => t.stop()));
    await etcd.stop();
  });

  /** Fresh replicas and group; starts agents `a` and `b` (with `exec`, and an etcd URL per member); waits for a primary whose application serves. */
  async function begin(options: { etcdFor?: (member: string) => string; exec?: string } = {}): Promise<Run> {
    runs += 1;
    const name = `ax${runs}`;
    await Promise.all(targets.map(async (t) => (await RemotePool.create(t.address, name, { size: EXEC_APP_POOL_BYTES })).close()));
    const replicas = targets.map((t) => `${t.address}/${name}`);
    const dir = tempDir('agent-exec', SHM_DIR);
    const localPath = (member: string): string => path.join(dir, `${member}.pool`);
    const exec = options.exec ?? `exec ${process.execPath} ${path.join(__dirname, 'helpers', 'exec-app.js')}`;
    const history = new AgentHistory();
    const agents = new Map<string, AgentProcess>();
    for (const member of ['a', 'b']) {
      const etcdUrl = options.etcdFor?.(member) ?? etcd.url;
      agents.set(
        member,
        new AgentProcess(
          member,
          [
            '--etcd',
            etcdUrl,
            '--group',
            name,
            '--pool',
            localPath(member),
            ...replicas.flatMap((r) => ['--replica', r]),
            '--ttl',
            String(TTL_SECONDS),
            '--exec',
            exec,
          ],
          history,
        ),
      );
    }
    current = { history, agents, name, localPath } as Run;
    await waitFor(
      () => {
        const e = history.events.find((x) => x.event === 'elected');
        return e !== undefined && history.acks({ member: e.member, epoch: epochOf(e) }).length >= SERVING_ACKS;
      },
      TAKEOVER_MS,
      'a first primary whose application serves',
    );
    const elected = history.events.find((x) => x.event === 'elected')!;
    const primary = agents.get(elected.member)!;
    const standby = [...agents.values()].find((a) => a !== primary)!;
    await waitFor(() => history.eventsOf(standby.member, 'standby').length > 0, TAKEOVER_MS, 'the other agent standing by');
    // The application reattached under the agent's claim: it opened the released pool at the elected epoch.
    expect(
      history.linesOf(primary.member, 'open').map((l) => l.epoch),
      'the application opened the pool at the elected epoch',
    ).to.deep.equal([epochOf(elected)]);
    Object.assign(current, { primary, standby, elected });
    return current;
  }

  /** Waits until an agent other than `old` was elected after `afterNs` and its application acknowledged SERVING_ACKS records. */
  async function takeover(run: Run, old: string, afterNs: bigint): Promise<{ election: AgentEvent; firstAck: AppLine }> {
    const find = (): AgentEvent | undefined => run.history.events.find((e) => e.event === 'elected' && e.member !== old && e.ns > afterNs);
    await waitFor(
      () => {
        const e = find();
        return e !== undefined && run.history.acks({ member: e.member, epoch: epochOf(e) }).length >= SERVING_ACKS;
      },
      TAKEOVER_MS,
      'a new primary whose application serves after the fault',
    );
    const election = find()!;
    return { election, firstAck: run.history.acks({ member: election.member, epoch: epochOf(election) })[0] };
  }

  /** Kills everything; every acknowledged record is on a majority of replicas and in the last primary's pool; applications acked in epoch order. */
  async function finish(run: Run): Promise<void> {
    await Promise.all([...run.agents.values()].map((a) => a.kill()));
    const acks = run.history.acks();
    const epochs = [...new Set(acks.map((a) => a.epoch))].sort((x, y) => (x < y ? -1 : 1));
    for (let i = 1; i < epochs.length; i++) {
      const lastOfPrev = acks.filter((a) => a.epoch === epochs[i - 1]).reduce((m, a) => (a.ns > m ? a.ns : m), 0n);
      const firstOfNext = acks
        .filter((a) => a.epoch === epochs[i])
        .map((a) => a.ns)
        .reduce((m, ns) => (ns < m ? ns : m));
      expect(
        lastOfPrev < firstOfNext,
        `epoch ${epochs[i - 1]} acked ${Number(lastOfPrev - firstOfNext) / 1e6} ms after epoch ${epochs[i]}'s first ack`,
      ).to.equal(true);
    }
    const acked: Array<[number, number]> = acks.map((a) => [Number(a.epoch) - 1, a.n]);
    const held = await Promise.all(targets.map((t) => readReplica(t.address, run.name)));
    const missingOn = held.map((data) => new Set(missingRecords(data, acked, EXEC_APP_SLOTS)));
    for (const [w, n] of acked) {
      const holding = missingOn.filter((m) => !m.has(`${w}:${n}`)).length;
      expect(holding, `record ${w}:${n} on ${holding} of 3 replicas`).to.be.at.least(2);
    }
    const last = run.history.events.filter((e) => e.event === 'elected').pop()!;
    const local = await Pool.open(run.localPath(last.member));
    try {
      expect(missingRecords(local.buffer, acked, EXEC_APP_SLOTS), `acknowledged records missing from ${last.member}'s pool`).to.deep.equal(
        [],
      );
    } finally {
      await local.close();
    }
  }

  for (let loop = 1; loop <= LOOPS; loop++) {
    it(`SIGKILL of the primary node (agent and application): the standby agent takes over, its application acks, nothing acknowledged is lost (run ${loop})`, async function () {
      const run = await begin();
      const { primary, standby } = run;
      const appGroup = primary.appGroup!;
      const killedAt = monoNs();
      primary.signalGroup('SIGKILL');
      process.kill(-appGroup, 'SIGKILL');
      expect((await primary.exited).signal, 'the primary agent died of SIGKILL').to.equal('SIGKILL');
      await waitFor(() => !alive(appGroup), 5000, 'the primary application dead');
      const { election, firstAck } = await takeover(run, primary.member, killedAt);
      expect(election.member).to.equal(standby.member);
      expect(epochOf(election) > epochOf(run.elected), 'the new primary has a higher epoch').to.equal(true);
      expect(
        run.history.linesOf(standby.member, 'open').map((l) => l.epoch),
        'the new application opened at the new epoch',
      ).to.deep.equal([epochOf(election)]);
      expect(
        run.history.acks({ member: primary.member, afterNs: firstAck.ns }),
        "acks of the killed application after the new one's first",
      ).to.deep.equal([]);
      await finish(run);
    });

    it(`SIGSTOP of the primary agent (not its application) past the TTL: the replicas refuse the old application once the new one writes; after SIGCONT the agent kills it and stands by (run ${loop})`, async function () {
      const run = await begin();
      const { primary, standby, elected } = run;
      const oldEpoch = epochOf(elected);
      const appGroup = primary.appGroup!;
      primary.signal('SIGSTOP');
      const stoppedAt = monoNs();
      await waitFor(() => procState(primary.pid) === 'T', 5000, 'the primary agent stopped');
      const { election, firstAck } = await takeover(run, primary.member, stoppedAt);
      expect(election.member).to.equal(standby.member);
      expect(procState(primary.pid), 'the old agent was stopped all along').to.equal('T');
      // The stopped agent could not kill its application: the second wall, the replicas' epoch claims, stopped it.
      expect(alive(appGroup), 'the old application still runs').to.equal(true);
      await waitFor(
        () => run.history.linesOf(primary.member, 'fenced', oldEpoch).length > 0,
        15_000,
        'the old application refused by the replicas',
      );
      expect(
        run.history.acks({ member: primary.member, epoch: oldEpoch, afterNs: stoppedAt }).length,
        'the old application acked while its agent was stopped',
      ).to.be.at.least(1);
      expect(
        run.history.acks({ member: primary.member, afterNs: firstAck.ns }),
        "acks of the old application after the new one's first",
      ).to.deep.equal([]);
      const resumedAt = monoNs();
      primary.signal('SIGCONT');
      await waitFor(() => run.history.eventsOf(primary.member, 'standby', resumedAt).length > 0, 15_000, 'the old agent stood by');
      const exit = run.history.eventsOf(primary.member, 'exec-exited', resumedAt);
      expect(
        exit.map((e) => [e.fields.signal, e.fields.killed]),
        'the old agent killed its application',
      ).to.deep.equal([['SIGKILL', true]]);
      expect(run.history.eventsOf(primary.member, 'demoted', resumedAt), 'the old agent demoted itself').to.have.length(1);
      expect(alive(appGroup), 'the old application is gone').to.equal(false);
      await waitFor(
        () => run.history.acks({ member: standby.member, afterNs: resumedAt }).length >= SERVING_ACKS,
        15_000,
        'the new application acks after SIGCONT',
      );
      expect(
        run.history.acks({ member: primary.member, afterNs: firstAck.ns }),
        "acks of the old application after the new one's first",
      ).to.deep.equal([]);
      await finish(run);
    });

    // Refused connections make every etcd call fail at once; a silent network makes each one wait
    // for its deadline, so only a timer at the ack deadline ends the term before the lease expires.
    const partition = loop % 2 === 1 ? 'cut (connections refused)' : 'blackholed (silent)';
    it(`primary agent's link to etcd ${partition}: it SIGKILLs its application before its lease expires, the standby takes over (run ${loop})`, async function () {
      const proxies = new Map<string, TcpProxy>();
      let watch: LeaderWatch | undefined;
      for (const member of ['a', 'b']) proxies.set(member, await TcpProxy.start(`${etcd.host}:${etcd.clientPort}`));
      try {
        const run = await begin({ etcdFor: (member) => `http://${proxies.get(member)!.address}` });
        watch = await LeaderWatch.start(etcd.url, run.name);
        const { primary, standby } = run;
        const appGroup = primary.appGroup!;
        const cutAt = monoNs();
        const proxy = proxies.get(primary.member)!;
        if (loop % 2 === 1) proxy.cut();
        else proxy.blackhole();
        const { election } = await takeover(run, primary.member, cutAt);
        expect(election.member).to.equal(standby.member);
        expect(primary.running, 'the cut agent is still running').to.equal(true);
        const expired = watch.deletedAfter(cutAt);
        expect(expired, "the cut agent's leader key expired").to.not.equal(undefined);
        const exit = run.history.eventsOf(primary.member, 'exec-exited', cutAt);
        expect(
          exit.map((e) => [e.fields.signal, e.fields.killed]),
          'the cut agent killed its application',
        ).to.deep.equal([['SIGKILL', true]]);
        // Self-fencing (I8): the kill, and the application's last ack, came before the lease expired.
        expect(exit[0].ns < expired!, 'the application was killed before the leader key expired').to.equal(true);
        expect(
          run.history.acks({ member: primary.member, afterNs: expired! }),
          "acks of the cut agent's application after its lease expired",
        ).to.deep.equal([]);
        expect(
          run.history.acks({ member: primary.member, afterNs: cutAt }).length,
          'the application acked after the cut, until killed',
        ).to.be.at.least(1);
        expect(alive(appGroup), 'the application is gone').to.equal(false);
        await finish(run);
      } finally {
        await watch?.close();
        await Promise.all([...proxies.values()].map((p) => p.close()));
      }
    });
  }

  it('SIGTERM of the primary agent: it SIGKILLs its application, steps down, exits 0; the standby takes over', async function () {
    const run = await begin();
    const { primary, standby } = run;
    const appGroup = primary.appGroup!;
    const termAt = monoNs();
    primary.signal('SIGTERM');
    expect((await primary.exited).code, 'the agent exits 0 on SIGTERM').to.equal(0);
    const exit = run.history.eventsOf(primary.member, 'exec-exited', termAt);
    expect(
      exit.map((e) => [e.fields.signal, e.fields.killed]),
      'it killed its application',
    ).to.deep.equal([['SIGKILL', true]]);
    expect(run.history.eventsOf(primary.member, 'demoted', termAt).map((e) => e.fields.reason)).to.deep.equal(['stopped']);
    expect(run.history.eventsOf(primary.member, 'stopped', termAt), 'it logged its stop').to.have.length(1);
    expect(alive(appGroup), 'the application is gone').to.equal(false);
    const { election, firstAck } = await takeover(run, primary.member, termAt);
    expect(election.member).to.equal(standby.member);
    expect(
      run.history.acks({ member: primary.member, afterNs: firstAck.ns }),
      "acks of the old application after the new one's first",
    ).to.deep.equal([]);
    await finish(run);
  });

  it('an application that exits by itself while primary: its agent steps down at once and the other agent takes over', async function () {
    const app = path.join(__dirname, 'helpers', 'exec-app.js');
    const run = await begin({ exec: `EXEC_APP_RECORDS=${SERVING_ACKS * 4} exec ${process.execPath} ${app}` });
    const { primary, standby } = run;
    await waitFor(() => run.history.eventsOf(primary.member, 'exec-exited').length > 0, TAKEOVER_MS, 'the application exited');
    const exit = run.history.eventsOf(primary.member, 'exec-exited')[0];
    expect([exit.fields.code, exit.fields.killed], 'it exited by itself with code 0').to.deep.equal([0, false]);
    expect(
      run.history.acks({ member: primary.member, epoch: epochOf(run.elected) }),
      'every record it meant to write was acked',
    ).to.have.length(SERVING_ACKS * 4);
    await waitFor(() => run.history.eventsOf(primary.member, 'demoted').length > 0, 10_000, 'the agent stepped down');
    expect(String(run.history.eventsOf(primary.member, 'demoted')[0].fields.reason)).to.match(/application exited by itself/);
    // The resignation revoked the lease and paused this agent: the standby takes the role.
    const { election } = await takeover(run, primary.member, exit.ns);
    expect(election.member).to.equal(standby.member);
    await finish(run);
  });
});

/** Whether the application with process group `group` (its only process: `exec` replaced the shell) runs or is stopped, not dead or a zombie. */
function alive(group: number): boolean {
  try {
    return procState(group) !== 'Z';
  } catch {
    return false;
  }
}

async function readReplica(address: string, name: string): Promise<Buffer> {
  const pool = await RemotePool.open(address, name, { readOnly: true });
  try {
    return await pool.read(0, EXEC_APP_POOL_BYTES);
  } finally {
    await pool.close();
  }
}
