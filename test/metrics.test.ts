/**
 * rpmemd's Prometheus endpoint, scraped over HTTP around a real workload: the persist counters move
 * by exactly the ranges and bytes sent, the histograms count the batches, the gauges follow open
 * pools and streams, and errors are counted by method and code.
 */
import { expect } from 'chai';
import * as http from 'http';
import * as net from 'net';
import { RpmemError } from '../src/storage/errors';
import { RemotePool } from '../src/initiator/remote-pool';
import { TestTarget } from './helpers/test-target';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (t: string) => (body += t));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/** `name{labels}` → value, from the Prometheus text format. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line);
    if (m !== null) out.set(m[1], Number(m[2]));
  }
  return out;
}

describe('rpmemd metrics', () => {
  let target: TestTarget;
  let url: string;

  const scrape = async (): Promise<Map<string, number>> => parse((await get(url)).body);

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    target = await TestTarget.start({ args: ['--metrics', `127.0.0.1:${port}`] });
  });

  after(async () => {
    await target.stop();
  });

  it('serves the Prometheus text format at /metrics, with process metrics, and 404 elsewhere', async () => {
    const res = await get(url);
    expect(res.status).to.equal(200);
    expect(res.type).to.match(/^text\/plain; version=0\.0\.4/);
    const m = parse(res.body);
    expect(m.get('rpmemd_build_info{version="0.1.0"}')).to.equal(1);
    expect(m.has('process_cpu_user_seconds_total')).to.equal(true);
    expect(m.has('nodejs_eventloop_lag_seconds')).to.equal(true);
    expect((await get(url.replace('/metrics', '/'))).status).to.equal(404);
  });

  it('counts exactly the ranges and bytes of a workload, its batches, and the open pool and stream', async () => {
    const before = await scrape();
    const pool = await RemotePool.create(target.address, 'metered', { size: 8 << 20 });
    const sizes = [...Array.from({ length: 100 }, () => 1000), ...Array.from({ length: 10 }, () => 65536), 1];
    try {
      await Promise.all(sizes.map((n, i) => pool.persist(i * 65536, Buffer.alloc(n, i))));
      const during = await scrape();
      expect(during.get('rpmemd_open_pools')).to.equal(1);
      expect(during.get('rpmemd_persist_streams')).to.equal(1);
    } finally {
      await pool.close();
    }
    const after = await scrape();
    const delta = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    const bytes = sizes.reduce((a, b) => a + b, 0);
    expect(delta('rpmemd_persist_ranges_total')).to.equal(sizes.length);
    expect(delta('rpmemd_persist_bytes_total')).to.equal(bytes);
    expect(delta('rpmemd_persist_batch_ranges_sum')).to.equal(sizes.length);
    expect(delta('rpmemd_persist_batch_bytes_sum')).to.equal(bytes);
    const batches = delta('rpmemd_persist_batch_ranges_count');
    expect(batches).to.be.within(1, sizes.length);
    expect(delta('rpmemd_flush_seconds_count{granularity="cache-line"}')).to.equal(batches);
    expect(delta('rpmemd_durable_ack_seconds_count')).to.be.within(1, sizes.length);
    expect(delta('rpmemd_durable_ack_seconds_sum')).to.be.greaterThan(0);
    expect(after.get('rpmemd_open_pools')).to.equal(0);
    expect(after.get('rpmemd_persist_streams')).to.equal(0);
  });

  it('counts failed requests by method and code', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) {
      const err = await RemotePool.open(target.address, 'absent').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(RpmemError);
    }
    const after = await scrape();
    const key = 'rpmemd_errors_total{method="Open",code="RPMEM_E_NO_POOL"}';
    expect((after.get(key) ?? 0) - (before.get(key) ?? 0)).to.equal(3);
  });

  it('is off by default, and a bad --metrics address fails start naming the key', async () => {
    const plain = await TestTarget.start({ args: ['--log-level', 'info'] });
    try {
      expect(plain.log.join('\n')).to.match(/"msg":"listening"/);
      expect(plain.log.join('\n')).not.to.match(/metrics listening/);
    } finally {
      await plain.stop();
    }
    const err = await TestTarget.start({ args: ['--metrics', 'nowhere'] }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/config "metrics": must be HOST:PORT/);
  });
});
