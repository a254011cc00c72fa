/**
 * Raises the HTTP/2 receive window of rpmemd's connections. Persist data flows client → server, so
 * the server's window caps how much a stream can have in flight per round trip; grpc-js 1.14
 * keeps HTTP/2's 64 KiB default and offers no server option for it (grpc/grpc-node#3058 adds
 * `grpc-node.flow_control_window`, which the server is also given so it takes over once released).
 * Until then each new session gets the larger window through grpc-js's http2 servers. Measured by
 * bench/ (at 64 MiB): rpmemd CPU per 4 KiB range 25-45% lower. A paused stream stops granting
 * window, so what one connection can make the daemon buffer stays bounded by the window.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'http2';
import type { Log } from './log';

/**
 * Receive window per connection and per stream: 16× HTTP/2's default. Larger windows measured
 * faster but let hostile clients park that much unread data in the daemon per connection (the fuzz
 * run peaked ~300 MB of RSS at 16 MiB), so the bound wins.
 */
export const HTTP2_WINDOW_BYTES = 1024 * 1024;

/** The receive window of a connection once a call on it authenticated with a token (see raiseReceiveWindow). */
export const AUTHENTICATED_WINDOW_BYTES = HTTP2_WINDOW_BYTES;

/** The grpc-js server option that sets the window once grpc-js supports it on servers. */
export const FLOW_CONTROL_OPTION = { 'grpc-node.flow_control_window': HTTP2_WINDOW_BYTES };

/**
 * Calls `onSession` for every HTTP/2 session `server`'s bound listeners accept. False when grpc-js's
 * internals changed and no listener could be reached.
 */
export function onSessions(server: grpc.Server, onSession: (session: http2.ServerHttp2Session) => void): boolean {
  const listeners = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(listeners instanceof Map)) return false;
  for (const listener of listeners.keys()) listener.on('session', onSession);
  return true;
}

/** Sets `session`'s connection receive window and its streams' initial window to `bytes`. */
export function setReceiveWindow(session: http2.ServerHttp2Session, bytes: number): void {
  session.setLocalWindowSize(bytes);
  session.settings({ initialWindowSize: bytes });
}

/** Applies the window to every session of `server`'s bound listeners; logs and carries on if grpc-js internals changed. */
export function raiseReceiveWindow(server: grpc.Server, log: Log): void {
  if (!onSessions(server, (session) => setReceiveWindow(session, HTTP2_WINDOW_BYTES))) {
    log.warn('cannot raise the HTTP/2 receive window with this grpc-js version; persist throughput will be lower');
  }
}
