import { promote as promotePool } from '../../initiator/promote';
import type { WritePolicy } from '../../initiator/replicated-pool';
import { CONNECT_OPTIONS, Command, REPLICA_OPTIONS, UsageError, replicaArgs } from '../command';

function parsePolicy(raw: string | undefined): WritePolicy {
  if (raw === undefined) return 'majority';
  if (raw === 'all' || raw === 'majority') return raw;
  if (/^\d+$/.test(raw)) return Number(raw);
  throw new UsageError(`--ack must be all, majority or a number, got "${raw}"`);
}

export const promote: Command = {
  name: 'promote',
  summary: 'make a local pool the new primary after the old one was lost',
  synopsis: '--pool PATH --replica HOST:PORT/NAME [--replica ...] [--ack POLICY]',
  description: [
    'Fences a majority of the replicas at a new epoch (so the old primary can never write again),',
    'copies the most up-to-date clean replica into PATH (created if missing), and resyncs the rest',
    'from it. Run it on the node that takes over, with the old primary stopped or unreachable.',
  ].join('\n'),
  options: {
    ...REPLICA_OPTIONS,
    ack: { type: 'string', arg: 'POLICY', help: 'write policy of the new primary: all, majority or a number (default majority)' },
    ...CONNECT_OPTIONS,
  },
  examples: ['rpmem promote --pool /var/lib/app/pool --replica node2:7420/pool --replica node3:7420/pool --json'],
  async run(ctx) {
    const { pool: path, replicas } = replicaArgs(ctx);
    const pool = await promotePool(path, { ...ctx.connect(), replicas, ack: parsePolicy(ctx.str('ack')) });
    try {
      const status = pool.status();
      const human = [`promoted ${path} to primary at epoch ${pool.epoch}`, ...status.map((s) => `  ${s.replica}: ${s.state}`)].join('\n');
      ctx.out.result(human, { pool: path, epoch: pool.epoch, replicas: status });
    } finally {
      await pool.close();
    }
  },
};
