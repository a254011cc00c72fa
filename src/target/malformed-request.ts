/**
 * grpc-js answers a request message it cannot deserialize with INTERNAL, as if the daemon had
 * failed. A malformed message is the caller's fault and deserves a stable code: the Target
 * service's deserializers here hand the handler a MalformedRequest instead, which it refuses with
 * RPMEM_E_INVALID_ARGUMENT.
 */
import type * as grpc from '@grpc/grpc-js';
import { RpmemError, ErrorCode } from '../storage/errors';

/** Stands in for a request message that did not parse. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** `service` with every method's request deserializer, except those in `keep`, returning a MalformedRequest instead of throwing. */
export function tolerateMalformedRequests(service: grpc.ServiceDefinition, keep: readonly string[]): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      keep.includes(name) ? method : { ...method, requestDeserialize: tolerant(name, method.requestDeserialize) },
    ]),
  );
}

function tolerant(name: string, deserialize: grpc.deserialize<unknown>): grpc.deserialize<unknown> {
  return (bytes: Buffer) => {
    try {
      return deserialize(bytes);
    } catch (err) {
      return new MalformedRequest(`not a valid ${name} request: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/** Throws RPMEM_E_INVALID_ARGUMENT if `request` did not parse. */
export function refuseMalformed(request: unknown): void {
  if (request instanceof MalformedRequest) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, request.reason);
}
