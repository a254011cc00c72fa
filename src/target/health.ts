/**
 * grpc.health.v1.Health on rpmemd, from grpc-health-check, so load balancers, Kubernetes probes and
 * `grpcurl ... grpc.health.v1.Health/Check` work unchanged.
 *
 * Service names:
 * - `""` and `rpmem.v1.Target`: SERVING while the daemon takes calls, NOT_SERVING from the moment
 *   it starts draining (Watch streams see the change).
 * - `rpmem.pool/<name>`: looked up at Check time, the way Stat finds a pool, so pools created,
 *   removed or copied into the pool dir by hand are always reported as they are: SERVING for a
 *   readable pool, NOT_SERVING for a damaged one or while draining, NOT_FOUND for no such pool.
 *   With tokens configured the check needs one that may read the pool (UNAUTHENTICATED or
 *   PERMISSION_DENIED otherwise, whether or not it exists), so Health does not tell strangers which
 *   pool names exist. Watch on these names answers SERVICE_UNKNOWN (the library's answer for names
 *   it does not track).
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, ServingStatus } from 'grpc-health-check';
import { RpmemError, ErrorCode } from '../storage/errors';
import { toServiceError } from '../wire/status';

export const TARGET_SERVICE = 'rpmem.v1.Target';
export const POOL_SERVICE_PREFIX = 'rpmem.pool/';

/**
 * Resolves once pool `name` has been read for the caller behind `metadata` (throws
 * RPMEM_E_UNAUTHENTICATED, RPMEM_E_PERMISSION, RPMEM_E_NO_POOL, RPMEM_E_BAD_NAME, RPMEM_E_CORRUPT, ...).
 */
export type PoolProbe = (name: string, metadata: grpc.Metadata) => Promise<unknown>;

/** Probe failures that are the answer itself rather than a NOT_SERVING pool. */
const ANSWERED = new Set<ErrorCode>([ErrorCode.NO_POOL, ErrorCode.BAD_NAME, ErrorCode.UNAUTHENTICATED, ErrorCode.PERMISSION]);

type CheckHandler = grpc.handleUnaryCall<{ service: string }, { status: ServingStatus }>;

export class TargetHealth {
  private readonly health = new HealthImplementation({ '': 'SERVING', [TARGET_SERVICE]: 'SERVING' });
  private draining = false;

  constructor(private readonly probe: PoolProbe) {}

  addToServer(server: grpc.Server): void {
    this.health.addToServer({
      addService: (service, implementation) =>
        server.addService(service as grpc.ServiceDefinition, {
          ...implementation,
          check: this.check(implementation.check as CheckHandler),
        }),
    });
  }

  /** Every name turns NOT_SERVING: the daemon is draining and takes no new calls. */
  drain(): void {
    this.draining = true;
    this.health.setStatus('', 'NOT_SERVING');
    this.health.setStatus(TARGET_SERVICE, 'NOT_SERVING');
  }

  private check(delegate: CheckHandler): CheckHandler {
    return (call, callback) => {
      const service = call.request.service;
      if (!service.startsWith(POOL_SERVICE_PREFIX)) return delegate(call, callback);
      this.poolStatus(service.slice(POOL_SERVICE_PREFIX.length), call.metadata).then(
        (status) => callback(null, { status }),
        (err: RpmemError) =>
          callback(
            err.code === ErrorCode.UNAUTHENTICATED || err.code === ErrorCode.PERMISSION
              ? toServiceError(err)
              : toServiceError(new RpmemError(ErrorCode.NO_POOL, `no pool behind health service ${service}`)),
          ),
      );
    };
  }

  /** SERVING or NOT_SERVING; rejects when there is no such pool. */
  private async poolStatus(name: string, metadata: grpc.Metadata): Promise<ServingStatus> {
    try {
      await this.probe(name, metadata);
      return this.draining ? 'NOT_SERVING' : 'SERVING';
    } catch (err) {
      if (err instanceof RpmemError && ANSWERED.has(err.code)) throw err;
      return 'NOT_SERVING';
    }
  }
}
