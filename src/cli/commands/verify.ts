import { verifyPool } from '../../initiator/verify-pool';
import { CONNECT_OPTIONS, Command, REPLICA_OPTIONS, replicaArgs } from '../command';
import type { ProgressBar } from '../progress';

export const verify: Command = {
  name: 'verify',
  summary: 'compare a local pool with its replicas block by block',
  synopsis: '--pool PATH --replica HOST:PORT/NAME [--replica ...]',
  description: [
    'Compares block digests of the local pool and each replica (the data never crosses the network).',
    'The local pool must not be open elsewhere: stop the application first. Exits 1 if any replica',
    'differs or cannot be reached.',
  ].join('\n'),
  options: { ...REPLICA_OPTIONS, ...CONNECT_OPTIONS },
  examples: [
    'rpmem verify --pool /var/lib/app/pool --replica node1:7420/pool --replica node2:7420/pool',
    'rpmem verify --pool /var/lib/app/pool --replica node1:7420/pool --json | jq .identical',
  ],
  async run(ctx) {
    const { pool, replicas } = replicaArgs(ctx);
    const progress = ctx.out.progress();
    const bars = new Map<string, ProgressBar>();
    let report;
    try {
      report = await verifyPool(pool, replicas, ctx.connect(), (p) => {
        if (progress === undefined) return;
        let bar = bars.get(p.replica);
        if (bar === undefined) bars.set(p.replica, (bar = progress.bar(p.replica, p.bytesTotal, 'bytes')));
        bar.update(p.bytesCompared);
      });
    } finally {
      progress?.stop();
    }
    const identical = report.every((r) => r.compared && r.differing.length === 0);
    const lines = report.map((r) =>
      !r.compared
        ? `${r.replica}: UNREACHABLE (${r.error})`
        : r.differing.length === 0
          ? `${r.replica}: identical`
          : `${r.replica}: ${r.differing.length} differing range(s): ${r.differing.map((d) => `[${d.start}, ${d.end})`).join(' ')}`,
    );
    ctx.out.result(lines.join('\n'), { identical, replicas: report });
    return identical ? 0 : 1;
  },
};
