import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, TARGET_OPTIONS } from '../command';
import { formatBytes, table } from '../format';

export const ls: Command = {
  name: 'ls',
  summary: 'list the pools on a target',
  synopsis: '[--target HOST:PORT]',
  description: 'Lists every pool on the target (that your token may see), sorted by name.',
  options: { ...TARGET_OPTIONS, ...CONNECT_OPTIONS },
  examples: ['rpmem ls --target 10.0.0.2:7420', "rpmem ls --target 10.0.0.2:7420 --json | jq -r '.[].name'"],
  async run(ctx) {
    const pools = await RemotePool.list(ctx.target, ctx.connect());
    const rows = [
      ['NAME', 'SIZE', 'GRANULARITY', 'DURABILITY', 'EPOCH', 'LSN', 'SYNC', 'OPEN'],
      ...pools.map((p) => [
        p.name,
        formatBytes(p.size),
        p.granularity,
        p.durability,
        String(p.epoch),
        String(p.lsn),
        p.syncState,
        p.open ? 'yes' : 'no',
      ]),
    ];
    ctx.out.result(pools.length === 0 ? '(no pools)' : table(rows), pools);
  },
};
