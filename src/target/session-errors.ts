/**
 * Logs every HTTP/2 connection that Node's http2 layer tears down with an error. Such a teardown
 * resets every call still open on the connection with INTERNAL_ERROR and sends GOAWAY; grpc-js
 * reports nothing of it on the server, so without this line a client's "Received RST_STREAM with
 * code 2" cannot be traced to its cause (a protocol violation, or one of Node's session limits such
 * as maxSessionRejectedStreams or maxSessionInvalidFrames). grpc-js keeps the http2 servers private,
 * and http2-window.ts's onSessions reaches them for both: if its internals change this logs a
 * warning once and does nothing.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'http2';
import { onSessions } from './http2-window';
import type { Log } from './log';

/** Registers the logging on every bound listener of `server`; call after bindAsync. */
export function logSessionErrors(server: grpc.Server, log: Log): void {
  if (!onSessions(server, (session) => watch(session, log))) {
    log.warn('cannot watch HTTP/2 connections with this grpc-js version; connection errors will not be logged');
  }
}

function watch(session: http2.ServerHttp2Session, log: Log): void {
  // Read now: once the session fails its socket may be gone.
  const peer = `${session.socket?.remoteAddress}:${session.socket?.remotePort}`;
  let failure: (Error & { code?: string }) | undefined;
  let resetCalls = 0;
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    // A session destroys its open streams before it reports its error, so they are counted here.
    stream.once('close', () => {
      if (session.destroyed) resetCalls++;
    });
  });
  session.once('error', (err: Error & { code?: string }) => (failure = err));
  session.once('close', () => {
    if (failure === undefined) return;
    // Warn when calls were lost; a peer that never got a call through (a port scan, HTTP/1) is only info.
    const level = resetCalls > 0 ? 'warn' : 'info';
    log[level]('HTTP/2 connection closed with an error', { peer, code: failure.code, err: failure.message, resetCalls });
  });
}
