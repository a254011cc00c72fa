/**
 * Experiment only (loaded into rpmemd with `node -r`, never part of rpmem): raises the HTTP/2
 * receive window of every server session grpc-js creates, which grpc-js 1.14 offers no option
 * for. Per stream: SETTINGS_INITIAL_WINDOW_SIZE in the server's settings. Per connection:
 * session.setLocalWindowSize once the session exists. The size comes from
 * RPMEM_BENCH_H2_WINDOW_BYTES (default 64 MiB).
 */
// The module object itself, not an import namespace, so that createServer can be replaced.
import http2 = require('http2');

const windowBytes = Number(process.env.RPMEM_BENCH_H2_WINDOW_BYTES ?? 64 * 1024 * 1024);
const original = http2.createServer;

(http2 as { createServer: typeof http2.createServer }).createServer = ((
  options: http2.ServerOptions,
  listener?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
) => {
  const server = original({ ...options, settings: { ...options?.settings, initialWindowSize: windowBytes } }, listener);
  server.on('session', (session: http2.ServerHttp2Session) => session.setLocalWindowSize(windowBytes));
  return server;
}) as typeof http2.createServer;
