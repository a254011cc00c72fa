/**
 * A local pool replicated to two rpmemd targets: store a message into the pool's buffer, persist
 * it (it resolves once the message is durable locally and on both replicas), then read it back
 * from each replica through its own read-only connection.
 *
 * Usage: node dist/examples/replicated-pool/main.js POOL_FILE HOST:PORT HOST:PORT [MESSAGE]
 */
import { RemotePool, ReplicatedPool, RpmemError } from '../../src';

const POOL_BYTES = 16 * 1024 * 1024;
const REMOTE_NAME = 'example';

async function main(argv: string[]): Promise<number> {
  const [path, first, second, message = `hello from pid ${process.pid}`] = argv;
  if (second === undefined) {
    process.stderr.write('usage: main.js POOL_FILE HOST:PORT HOST:PORT [MESSAGE]\n');
    return 2;
  }
  const targets = [first, second];
  const replicas = targets.map((t) => `${t}/${REMOTE_NAME}`);
  // `create` makes the local file and any missing replica pool; an existing pool is just opened.
  const pool = await ReplicatedPool.open(path, { replicas, ack: 'all', create: { size: POOL_BYTES } });
  pool.on('replica-down', ({ replica, error }) => console.log(`replica ${replica} is down: ${error.code}`));
  try {
    const data = Buffer.from(message);
    data.copy(pool.buffer, 0);
    const result = await pool.persist(0, data.length);
    console.log(
      `persisted ${data.length} bytes at lsn ${result.lsn}: durable locally (${result.local}, ${result.localDurability}) and on ${result.replicas.length} replicas (${result.replicas.map((r) => r.durability).join(', ')})`,
    );
    for (const target of targets) {
      const replica = await RemotePool.open(target, REMOTE_NAME, { readOnly: true });
      try {
        console.log(`${target}/${REMOTE_NAME} holds: ${(await replica.read(0, data.length)).toString()}`);
      } finally {
        await replica.close();
      }
    }
    for (const s of pool.status()) console.log(`${s.replica}: ${s.state}, ${s.dirtyBlocks} dirty block(s)`);
  } finally {
    await pool.close();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof RpmemError ? `${err.code}: ${err.message}` : err);
    process.exit(1);
  },
);
