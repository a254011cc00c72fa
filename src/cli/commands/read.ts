import * as fs from 'fs';
import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, TARGET_OPTIONS, parseSize, withPool } from '../command';

export const read: Command = {
  name: 'read',
  summary: 'read bytes from a pool (to --out or stdout)',
  synopsis: '[--target HOST:PORT] --offset N --length N [--out FILE] NAME',
  description: 'Reads LENGTH bytes at data offset N of pool NAME. With --json they are printed as base64.',
  options: {
    offset: { type: 'string', arg: 'N', help: 'data-area offset (suffixes K, M, G allowed; required)' },
    length: { type: 'string', arg: 'N', help: 'bytes to read (required)' },
    out: { type: 'string', arg: 'FILE', help: 'write them to FILE (default: stdout)' },
    ...TARGET_OPTIONS,
    ...CONNECT_OPTIONS,
  },
  takesName: true,
  examples: [
    'rpmem read --target 10.0.0.2:7420 --offset 0 --length 5 mypool',
    'rpmem read --target 10.0.0.2:7420 --offset 0 --length 64M --out copy.bin mypool',
  ],
  async run(ctx) {
    const offset = parseSize('offset', ctx.str('offset', true));
    const length = parseSize('length', ctx.str('length', true));
    const out = ctx.str('out');
    await withPool(RemotePool.open(ctx.target, ctx.name, { ...ctx.connect(), readOnly: true }), async (pool) => {
      const data = await pool.read(offset, length);
      if (out !== undefined) fs.writeFileSync(out, data);
      if (ctx.out.json) ctx.out.result('', { offset, length, ...(out === undefined ? { base64: data.toString('base64') } : { out }) });
      else if (out === undefined) ctx.io.stdout.write(data);
    });
  },
};
