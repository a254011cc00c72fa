import { RpmemError, ErrorCode } from '../../storage/errors';
import type { ResyncDone, ResyncProgress } from '../../initiator/replica';
import { ReplicatedPool } from '../../initiator/replicated-pool';
import { CONNECT_OPTIONS, Command, REPLICA_OPTIONS, parseCount, replicaArgs, withPool } from '../command';
import type { ProgressBar } from '../progress';

const POLL_MS = 50;
const DEFAULT_UNREACHABLE_S = 60;

export const resync: Command = {
  name: 'resync',
  summary: 'bring every replica of a local pool up to date, with progress, then exit',
  synopsis: '--pool PATH --replica HOST:PORT/NAME [--replica ...] [--full] [--timeout S]',
  description: [
    'Opens the pool as its primary, copies to each replica the blocks its dirty map marks (or, with',
    '--full or without a usable map, every block whose digest differs), waits until every replica is',
    'up, and closes. The local pool must not be open elsewhere: a running primary resyncs by itself.',
    'Fails when a replica is fenced by a newer primary, or cannot be reached for --timeout seconds.',
  ].join('\n'),
  options: {
    ...REPLICA_OPTIONS,
    full: { type: 'boolean', help: "compare every block by digest, for copies changed behind rpmem's back" },
    timeout: { type: 'string', arg: 'S', help: `give up on a replica unreachable for S seconds (default ${DEFAULT_UNREACHABLE_S})` },
    ...CONNECT_OPTIONS,
  },
  examples: [
    'rpmem resync --pool /var/lib/app/pool --replica node1:7420/pool --replica node2:7420/pool',
    'rpmem resync --pool /var/lib/app/pool --replica node2:7420/pool --full --json',
  ],
  async run(ctx) {
    const { pool: path, replicas } = replicaArgs(ctx);
    const full = ctx.values.full === true;
    const timeoutMs = parseCount('timeout', ctx.str('timeout') ?? String(DEFAULT_UNREACHABLE_S)) * 1000;
    const done = new Map<string, ResyncDone>();
    // openWaitMs 0: return at once, so the progress listeners are in place before any resync reports.
    await withPool(ReplicatedPool.open(path, { ...ctx.connect(), replicas, openWaitMs: 0 }), async (pool) => {
      const progress = ctx.out.progress();
      const bars = new Map<string, ProgressBar>();
      /** Since when each replica has been unreachable (connecting or down); a resyncing one is working. */
      const unreachableSince = new Map<string, number>();
      pool.on('resync-progress', (p: ResyncProgress) => {
        if (progress === undefined) return;
        let bar = bars.get(p.replica);
        if (bar === undefined) bars.set(p.replica, (bar = progress.bar(p.replica, p.blocksTotal, 'blocks')));
        bar.update(p.blocksDone, p.bytesCopied, p.blocksTotal);
      });
      pool.on('resync-done', (d: ResyncDone) => {
        if (!full || d.full) done.set(d.replica, d);
      });
      try {
        if (full) await pool.resync();
        for (;;) {
          const status = pool.status();
          const fenced = status.find((s) => s.state === 'fenced');
          if (fenced !== undefined)
            throw new RpmemError(ErrorCode.FENCED, `${fenced.replica}: ${fenced.error ?? 'fenced by a newer primary'}`);
          if (status.every((s) => s.state === 'up' && done.has(s.replica))) break;
          const now = Date.now();
          for (const s of status) {
            if (s.state === 'connecting' || s.state === 'down') unreachableSince.set(s.replica, unreachableSince.get(s.replica) ?? now);
            else unreachableSince.delete(s.replica);
          }
          const lost = status.filter((s) => now - (unreachableSince.get(s.replica) ?? now) > timeoutMs);
          if (lost.length > 0) {
            const why = lost.map((s) => `${s.replica} (${s.state}${s.error ? `: ${s.error}` : ''})`).join(', ');
            throw new RpmemError(ErrorCode.UNAVAILABLE, `unreachable for ${timeoutMs / 1000} s: ${why}`);
          }
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      } finally {
        progress?.stop();
      }
    });
    const results = replicas.map((r) => done.get(r)!);
    const human = results.map(
      (d) => `${d.replica}: up; copied ${d.blocksDone} block(s), ${d.bytesCopied} bytes${d.full ? ' (full compare)' : ''} in ${d.ms} ms`,
    );
    ctx.out.result(human.join('\n'), { pool: path, replicas: results });
  },
};
