import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, TARGET_OPTIONS, parseSize, withPool } from '../command';
import { formatBytes } from '../format';

export const create: Command = {
  name: 'create',
  summary: 'create a pool on a target',
  synopsis: '[--target HOST:PORT] --size SIZE NAME',
  description: 'Creates pool NAME of SIZE usable bytes on the target (its 4 KiB header comes on top).',
  options: {
    size: { type: 'string', arg: 'SIZE', help: 'usable bytes; suffixes K, M, G, T are powers of 1024 (required)' },
    ...TARGET_OPTIONS,
    ...CONNECT_OPTIONS,
  },
  takesName: true,
  examples: [
    'rpmem create --target 10.0.0.2:7420 --size 64M mypool',
    'rpmem create --target pmem1:7420 --tls-ca ca.pem --size 1G db --json',
  ],
  async run(ctx) {
    const size = parseSize('size', ctx.str('size', true));
    const { granularity, durability } = await withPool(
      RemotePool.create(ctx.target, ctx.name, { ...ctx.connect(), size }),
      async (pool) => pool.openInfo,
    );
    ctx.out.result(`created ${ctx.name}: ${formatBytes(size)} (${size} bytes), ${granularity} granularity, ${durability} durability`, {
      name: ctx.name,
      size,
      granularity,
      durability,
    });
  },
};
