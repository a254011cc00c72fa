import * as fs from 'fs';
import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, Context, TARGET_OPTIONS, UsageError, parseSize, withPool } from '../command';

async function input(ctx: Context): Promise<Buffer> {
  const data = ctx.str('data');
  if (data !== undefined) return Buffer.from(data);
  const file = ctx.str('file');
  if (file !== undefined) return fs.promises.readFile(file);
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.io.stdin) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export const write: Command = {
  name: 'write',
  summary: 'persist bytes into a pool (from --data, --file or stdin)',
  synopsis: '[--target HOST:PORT] --offset N [--data TEXT | --file FILE] NAME',
  description: 'Writes the bytes at data offset N of pool NAME and returns once the target made them durable.',
  options: {
    offset: { type: 'string', arg: 'N', help: 'data-area offset (suffixes K, M, G allowed; required)' },
    data: { type: 'string', arg: 'TEXT', help: 'the bytes to write, as UTF-8 text' },
    file: { type: 'string', arg: 'FILE', help: 'write the contents of FILE (default: read stdin)' },
    ...TARGET_OPTIONS,
    ...CONNECT_OPTIONS,
  },
  takesName: true,
  examples: [
    'echo hello | rpmem write --target 10.0.0.2:7420 --offset 0 mypool',
    'rpmem write --target 10.0.0.2:7420 --offset 1M --file block.bin mypool --json',
  ],
  async run(ctx) {
    const offset = parseSize('offset', ctx.str('offset', true));
    const data = await input(ctx);
    if (data.length === 0) throw new UsageError('nothing to write (empty input)');
    await withPool(RemotePool.open(ctx.target, ctx.name, ctx.connect()), async (pool) => {
      const { seq, granularity, durability } = await pool.persist(offset, data);
      ctx.out.result(`wrote ${data.length} bytes at ${offset}: durable (${granularity}, ${durability}), seq ${seq}`, {
        offset,
        length: data.length,
        seq,
        granularity,
        durability,
      });
    });
  },
};
