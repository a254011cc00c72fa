/**
 * The HTTP side of the metrics: GET /metrics in the Prometheus text format, 404 for anything else.
 * Plain node:http — a scrape endpoint needs no framework.
 */
import * as http from 'http';
import type { Registry } from 'prom-client';
import { RpmemError, ErrorCode } from '../storage/errors';
import { splitAddress } from './config';

/** Listens on `address` (`host:port`, IPv6 as `[::1]:port`) and resolves once bound. */
export async function serveMetrics(address: string, registry: Registry): Promise<http.Server> {
  const { host, port } = splitAddress('metrics', address);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new RpmemError(ErrorCode.UNAVAILABLE, `cannot serve metrics on ${address}: ${err.message}`)));
    server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => resolve());
  });
  return server;
}
