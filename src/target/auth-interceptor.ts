/**
 * Refuses a call to rpmem.v1.Target whose token is missing or wrong when its headers arrive,
 * before grpc-js reads any of its messages. The handlers authorize later, once the request names a
 * pool; without this, a peer with no token could make the daemon buffer a message of up to
 * max-message-bytes per call before being told UNAUTHENTICATED. Health and reflection stay open so
 * that probes need no token.
 */
import * as grpc from '@grpc/grpc-js';
import { toServiceError } from '../wire/status';
import type { Authenticator } from './auth';

const TARGET_PATH_PREFIX = '/rpmem.v1.Target/';

/** Told of each refused call, for the daemon's log and metrics. */
export type RefusedCall = (method: string, err: unknown, call: { getPeer(): string }) => void;

/** The interceptor for `new grpc.Server({ interceptors: [...] })`. */
export function authInterceptor(auth: Authenticator, refused: RefusedCall): grpc.ServerInterceptor {
  return (method, call) => {
    const open = !method.path.startsWith(TARGET_PATH_PREFIX);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        if (open) return next();
        next(
          new grpc.ServerListenerBuilder()
            .withOnReceiveMetadata((metadata, passOn) => {
              try {
                auth.authenticate(metadata);
              } catch (err) {
                refused(method.path.slice(TARGET_PATH_PREFIX.length), err, call);
                call.sendStatus(toServiceError(err));
                return;
              }
              passOn(metadata);
            })
            .build(),
        );
      },
    });
  };
}
