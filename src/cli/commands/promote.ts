import { promote as promotePool } from '../../initiator/promote';
import type { WritePolicy } from '../../initiator/replicated-pool';
import { CONNECT_OPTIONS, Command, REPLICA_OPTIONS, UsageError, replicaArgs } from '../command';

function parsePolicy(raw: string | undefined): WritePolicy {
  if (raw === undefined) return 'majority';
  if (raw === 'all' || raw === 'majority') return raw;
  if (/^\d+$/.test(raw)) return Number(raw);
  throw new UsageError(`--ack must be all, majority or a number, got "${raw}"`);
}

function parseEpoch(raw: string | undefined): bigint | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(raw)) throw new UsageError(`--epoch must be a positive integer, got "${raw}"`);
  return BigInt(raw);
}

export const promote: Command = {
  name: 'promote',
  summary: 'make a local pool the new primary after the old one was lost',
  synopsis: '--pool PATH --replica HOST:PORT/NAME [--replica ...] [--ack POLICY]',
  description: [
    'Claims a new epoch on a majority of the replicas (so the old primary can never write again, and',
    'of two promoters at most one wins), copies the replica with the newest history (epoch of its',
    'last writer, then LSN) into PATH (created if missing), and resyncs the rest from it. Run it on the',
    'node that takes over, with the old primary stopped or unreachable. Exits 1 (and changes nothing',
    'locally) when a majority cannot be fenced, when another promoter claimed the epoch, or when a',
    'majority does not come up under the new primary.',
  ].join('\n'),
  options: {
    ...REPLICA_OPTIONS,
    ack: { type: 'string', arg: 'POLICY', help: 'write policy of the new primary: all, majority or a number (default majority)' },
    epoch: { type: 'string', arg: 'N', help: 'the epoch to claim (default: one above the highest a replica reports)' },
    ...CONNECT_OPTIONS,
  },
  examples: ['rpmem promote --pool /var/lib/app/pool --replica node2:7420/pool --replica node3:7420/pool --json'],
  async run(ctx) {
    const { pool: path, replicas } = replicaArgs(ctx);
    const epoch = parseEpoch(ctx.str('epoch'));
    const pool = await promotePool(path, {
      ...ctx.connect(),
      replicas,
      ack: parsePolicy(ctx.str('ack')),
      ...(epoch === undefined ? {} : { epoch }),
    });
    try {
      const status = pool.status();
      const r = pool.promotion!;
      const human = [
        `promoted ${path} to primary at epoch ${r.epoch}`,
        `  source: ${r.source} (history epoch ${r.sourceHistoryEpoch}, lsn ${r.sourceLsn}${r.sourceSyncing ? ', mid-resync' : ''}); highest lsn seen ${r.highestLsn}; copied ${r.bytesCopied} bytes`,
        `  fenced: ${r.fenced.join(', ')}`,
        ...r.missed.map((m) => `  missed: ${m.replica}: ${m.error}`),
        ...status.map((s) => `  ${s.replica}: ${s.state}`),
      ].join('\n');
      ctx.out.result(human, { pool: path, ...r, replicas: status });
    } finally {
      await pool.close();
    }
  },
};
