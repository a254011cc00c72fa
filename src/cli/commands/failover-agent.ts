import { spawn } from 'child_process';
import { ErrorCode, RpmemError } from '../../storage/errors';
import * as fs from 'fs';
import { FailoverCandidate } from '../../initiator/failover/failover-candidate';
import type { EtcdConnection } from '../../initiator/failover/candidate-options';
import { AGENT_KEYS, AGENT_OPTIONS, AgentConfig, buildAgentConfig, readAgentConfigFile } from '../agent-config';
import { CONNECT_OPTIONS, Command, Context, UsageError } from '../command';
import type { ConnectOptions } from '../../initiator/options';
import { SupervisedApp } from '../supervised-app';

function readFile(flag: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

function etcdConnection(config: AgentConfig): EtcdConnection {
  const password = readFile('etcd-password-file', config.etcdPasswordFile)?.toString('utf8').trim();
  if ((config.etcdUser === undefined) !== (password === undefined)) throw new UsageError('etcd-user and etcd-password-file go together');
  const ca = readFile('etcd-ca', config.etcdCa);
  const cert = readFile('etcd-cert', config.etcdCert);
  const key = readFile('etcd-key', config.etcdKey);
  return {
    hosts: config.etcd,
    ...(config.etcdUser !== undefined ? { auth: { username: config.etcdUser, password: password! } } : {}),
    ...(ca !== undefined || cert !== undefined ? { tls: { ca, cert, key } } : {}),
  };
}

/**
 * The agent's config and its connection to the replicas: the file's keys, then the flags given
 * over them. The file may carry the connection keys too (tls-ca, tls-cert, token-file, ...).
 */
function agentConfig(ctx: Context): { config: AgentConfig; connect: ConnectOptions } {
  const file = ctx.str('config');
  const fromFile = file === undefined ? {} : readAgentConfigFile(file);
  const connectKeys = Object.fromEntries(Object.entries(fromFile).filter(([key]) => key in CONNECT_OPTIONS));
  const agentKeys = Object.fromEntries(Object.entries(fromFile).filter(([key]) => !(key in CONNECT_OPTIONS)));
  const flags = Object.fromEntries(
    Object.keys(AGENT_KEYS)
      .map((flag) => [flag, ctx.values[flag]])
      .filter(([, v]) => v !== undefined),
  );
  return { config: buildAgentConfig({ ...agentKeys, ...flags }), connect: ctx.connect(connectKeys) };
}

/** Runs a role-change hook; its failure is reported, never fatal (the role changed anyway). */
function runHook(ctx: Context, command: string | undefined, env: Record<string, string>): void {
  if (command === undefined) return;
  const child = spawn('sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, ...env } });
  child.on('exit', (code) => {
    if (code !== 0) ctx.io.stderr.write(`rpmem failover-agent: hook "${command}" exited with ${code}\n`);
  });
}

export const failoverAgent: Command = {
  name: 'failover-agent',
  summary: 'be a candidate primary of a replicated pool: elected through etcd, promotes, serves, steps down',
  synopsis: '--config FILE | --group NAME --pool PATH --replica HOST:PORT/NAME ... [--etcd URL ...]',
  description: [
    'Joins the group in etcd as a candidate. When elected (the leader key on a lease, taken by a',
    'transaction) it takes the next epoch from etcd, promotes PATH at that epoch and holds the pool',
    'open as primary, renewing its lease every loop-wait-ms; if it cannot renew it stops',
    'acknowledging before the lease can expire and steps down. Standbys take over when the lease',
    'expires. Prints one JSON line per event (elected, demoted, standby, warning) and runs the',
    'on-elected / on-demoted hooks. With --exec COMMAND the agent supervises the application instead',
    'of holding the pool: once promoted it closes the pool and runs COMMAND (sh -c, env RPMEM_ROLE,',
    'RPMEM_EPOCH, RPMEM_POOL, RPMEM_REPLICAS, RPMEM_ACK, RPMEM_GROUP, RPMEM_MEMBER), which opens the',
    "pool itself; when the term ends it SIGKILLs the command's process group before the lease can",
    'expire, waits for it, and stands by; if the command exits by itself the agent steps down.',
    'Keys of --config FILE are the flag names (deploy/failover-agent.conf).',
    'Runs until SIGTERM or SIGINT, then steps down at once (revokes its lease).',
  ].join('\n'),
  options: {
    config: { type: 'string', arg: 'FILE', help: 'YAML file with any of the keys below (flags win)' },
    'check-config': { type: 'boolean', help: 'check the config and the timing rule, print the effective config as JSON, exit' },
    ...AGENT_OPTIONS,
    ...CONNECT_OPTIONS,
  },
  examples: [
    'rpmem failover-agent --config /etc/rpmem/failover-agent.conf',
    'rpmem failover-agent --etcd http://10.0.0.9:2379 --group app --member node1 --pool /var/lib/app/pool \\',
    '    --replica node2:7420/app --replica node3:7420/app --replica node4:7420/app --ttl 10',
  ],
  async run(ctx) {
    const { config, connect } = agentConfig(ctx);
    let candidate: FailoverCandidate<boolean>;
    let app: SupervisedApp | undefined;
    try {
      candidate = new FailoverCandidate<boolean>({
        ...connect,
        path: config.pool,
        replicas: config.replicas,
        ack: config.ack,
        etcd: etcdConnection(config),
        group: config.group,
        member: config.member,
        keyPrefix: config.keyPrefix,
        ttlSeconds: config.ttlSeconds,
        loopWaitMs: config.loopWaitMs,
        retryTimeoutMs: config.retryTimeoutMs,
        fenceMarginMs: config.fenceMarginMs,
        holdPool: config.exec === undefined,
        // No successor may be elected while the application of the term that ended may still run.
        beforeResign: async () => {
          await app?.exited;
        },
      });
    } catch (err) {
      // A bad TTL or timing rule is a configuration mistake like an unknown key.
      if (err instanceof RpmemError && err.code === ErrorCode.INVALID_ARGUMENT) throw new UsageError(err.message);
      throw err;
    }
    if (ctx.values['check-config'] === true) {
      // What the replicas are reached with, never the secrets themselves.
      const replicaConnection = {
        tls: connect.tls !== undefined,
        clientCertificate: connect.tls?.cert !== undefined,
        token: connect.token !== undefined,
      };
      ctx.io.stdout.write(`${JSON.stringify({ ...config, member: candidate.member, replicaConnection }, null, 2)}\n`);
      return 0;
    }
    const log = (event: string, fields: Record<string, unknown>): void => {
      ctx.io.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), event, group: config.group, member: candidate.member, ...fields })}\n`,
      );
    };
    const env = (role: string, epoch: bigint): Record<string, string> => ({
      RPMEM_ROLE: role,
      RPMEM_EPOCH: epoch.toString(),
      RPMEM_POOL: config.pool,
      RPMEM_REPLICAS: config.replicas.join(','),
      RPMEM_ACK: String(config.ack),
      RPMEM_GROUP: config.group,
      RPMEM_MEMBER: candidate.member,
    });
    const supervise = (command: string, epoch: bigint): void => {
      const started = new SupervisedApp(command, env('primary', epoch));
      app = started;
      log('exec-started', { epoch: epoch.toString(), pid: started.pid ?? null });
      void started.exited.then(({ code, signal, killed }) => {
        log('exec-exited', { epoch: epoch.toString(), pid: started.pid ?? null, code, signal, killed });
        if (app === started) app = undefined;
        // An application that ended by itself while primary ends the term: the pool has no writer.
        if (!killed) void candidate.resign(`the application exited by itself (${signal ?? `code ${code}`})`);
      });
    };
    candidate.on('elected', ({ epoch, promotion }) => {
      log('elected', { epoch: epoch.toString(), source: promotion?.source, bytesCopied: promotion?.bytesCopied });
      if (config.exec !== undefined) supervise(config.exec, epoch);
      runHook(ctx, config.onElected, env('primary', epoch));
    });
    candidate.on('demoted', ({ epoch, reason }) => {
      // First, at the deadline and before the lease can expire: the application must stop writing.
      app?.kill();
      log('demoted', { epoch: epoch.toString(), reason });
      runHook(ctx, config.onDemoted, env('standby', epoch));
    });
    candidate.on('standby', ({ leader }) => log('standby', { leader: leader ?? null }));
    candidate.on('warning', (err) => log('warning', { code: err.code, message: err.message }));
    await candidate.start();
    log('started', { ttlSeconds: config.ttlSeconds });
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await candidate.stop();
    log('stopped', {});
  },
};
