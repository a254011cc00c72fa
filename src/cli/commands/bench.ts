import * as crypto from 'crypto';
import { RemotePool } from '../../initiator/remote-pool';
import { CONNECT_OPTIONS, Command, TARGET_OPTIONS, UsageError, parseCount, parseSize, withPool } from '../command';
import { formatBytes } from '../format';

/** Persists kept in flight: enough to fill a fast link; RemotePool's inflight byte bound applies too. */
const WINDOW = 1024;
const MAX_TEMP_POOL_BYTES = 256 * 1024 * 1024;
const PROGRESS_EVERY = 256;

export const bench: Command = {
  name: 'bench',
  summary: 'measure pipelined persists against a target (ranges/s, MB/s)',
  synopsis: '[--target HOST:PORT] [--size BYTES] [--count N] [--pool NAME]',
  description: [
    `Persists COUNT ranges of SIZE bytes with up to ${WINDOW} in flight and reports the rate. Without`,
    '--pool it uses a temporary pool (at most 256 MiB, ranges wrap around) and removes it afterwards.',
  ].join('\n'),
  options: {
    size: { type: 'string', arg: 'BYTES', help: 'bytes per range (default 4096; K, M suffixes allowed)' },
    count: { type: 'string', arg: 'N', help: 'ranges to persist (default 10000)' },
    pool: { type: 'string', arg: 'NAME', help: 'write into this existing pool instead of a temporary one (it is overwritten)' },
    ...TARGET_OPTIONS,
    ...CONNECT_OPTIONS,
  },
  examples: ['rpmem bench --target 10.0.0.2:7420', 'rpmem bench --target 10.0.0.2:7420 --size 64K --count 2000 --json'],
  async run(ctx) {
    const size = parseSize('size', ctx.str('size') ?? '4096');
    const count = parseCount('count', ctx.str('count') ?? '10000');
    if (size === 0 || count === 0) throw new UsageError('--size and --count must be positive');
    const given = ctx.str('pool');
    const name = given ?? `rpmem-bench-${crypto.randomBytes(4).toString('hex')}`;
    const connect = ctx.connect();
    const opening =
      given !== undefined
        ? RemotePool.open(ctx.target, name, connect)
        : RemotePool.create(ctx.target, name, { ...connect, size: Math.max(size, Math.min(size * count, MAX_TEMP_POOL_BYTES)) });
    const closeAndRemove = async (pool: RemotePool): Promise<void> => {
      await pool.close();
      if (given === undefined) await RemotePool.remove(ctx.target, name, connect).catch(() => undefined);
    };
    const { seconds, granularity } = await withPool(
      opening,
      async (pool) => {
        const slots = Math.floor(pool.size / size);
        if (slots === 0) throw new UsageError(`pool ${name} holds ${pool.size} bytes, less than one range of ${size}`);
        const data = crypto.randomBytes(size);
        const progress = ctx.out.progress();
        const bar = progress?.bar('persist', count, 'ranges');
        try {
          const started = process.hrtime.bigint();
          // Acks arrive in order, so waiting on the oldest keeps exactly WINDOW in flight.
          const pending: Array<Promise<unknown>> = [];
          for (let i = 0; i < count; i++) {
            const persisted = pool.persist((i % slots) * size, data);
            // After a failure every pending persist rejects; the first one awaited reports it.
            persisted.catch(() => undefined);
            pending.push(persisted);
            if (pending.length >= WINDOW) await pending.shift();
            if (i % PROGRESS_EVERY === 0) bar?.update(i + 1 - pending.length, (i + 1 - pending.length) * size);
          }
          await Promise.all(pending);
          const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
          bar?.update(count, count * size);
          return { seconds: elapsed, granularity: pool.granularity };
        } finally {
          progress?.stop();
        }
      },
      closeAndRemove,
    );
    const rangesPerSecond = count / seconds;
    const mbPerSecond = (count * size) / seconds / 1e6;
    const human = `${count} x ${formatBytes(size)} persisted to ${ctx.target} (${granularity}) in ${seconds.toFixed(3)} s: ${Math.round(rangesPerSecond)} ranges/s, ${mbPerSecond.toFixed(1)} MB/s`;
    ctx.out.result(human, { target: ctx.target, granularity, size, count, seconds, rangesPerSecond, mbPerSecond });
  },
};
