/**
 * Raises the HTTP/2 receive window of rpmemd's connections. Persist data flows client → server, so
 * the server's window caps how much a stream can have in flight per round trip; grpc-js 1.14
 * keeps HTTP/2's 64 KiB default and offers no server option for it (grpc/grpc-node#3058 adds
 * `grpc-node.flow_control_window`, which the server is also given so it takes over once released).
 * Until then each new session gets the larger window through grpc-js's private `http2Servers`;
 * package.json pins grpc-js to the 1.14 line, and test/http2-window.test.ts fails if that reach
 * stops working (it reads the window a raw HTTP/2 client is granted). Measured by
 * bench/ (at 64 MiB): rpmemd CPU per 4 KiB range 25-45% lower. A paused stream stops granting
 * window, so what one connection can make the daemon buffer stays bounded by the window.
 *
 * Every connection starts at {@link HTTP2_WINDOW_BYTES}, the bound against unauthenticated floods.
 * A connection on which a call arrives with a token of the daemon's token file that may write is
 * raised to {@link AUTHENTICATED_WINDOW_BYTES}: decided on the call's HEADERS, before any DATA of it
 * is read, and at most once per connection. A daemon without a token file never raises it (its
 * callers are anyone). The bench's grpc-js ceiling rows measure both windows (issue 11, quiet
 * machine: 1 MiB messages at 420-450 MB/s with 1 MiB, 630-800 MB/s with 64 MiB).
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

/**
 * The receive window of a connection once a call on it authenticated with a writer's token: what
 * an authenticated writer can park in the daemon beyond max-inflight-bytes, per connection.
 */
export const AUTHENTICATED_WINDOW_BYTES = 64 * 1024 * 1024;

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

/**
 * Applies the window to every session of `server`'s bound listeners, and the authenticated one to
 * a session once `isWriter` accepts the headers of a call on it; logs and carries on if grpc-js
 * internals changed.
 */
export function raiseReceiveWindow(server: grpc.Server, log: Log, isWriter: (headers: http2.IncomingHttpHeaders) => boolean): void {
  const applied = onSessions(server, (session) => {
    setReceiveWindow(session, HTTP2_WINDOW_BYTES);
    const onStream = (_stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
      if (!isWriter(headers)) return;
      session.off('stream', onStream);
      setReceiveWindow(session, AUTHENTICATED_WINDOW_BYTES);
    };
    session.on('stream', onStream);
  });
  if (!applied) {
    log.warn('cannot raise the HTTP/2 receive window with this grpc-js version; persist throughput will be lower');
  }
}
