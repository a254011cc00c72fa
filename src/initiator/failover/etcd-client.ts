/**
 * The etcd client a candidate talks through: every unary call carries the candidate's retry
 * timeout as its deadline, and etcd3's own retries and circuit breaker are off, so a failure
 * surfaces within that deadline and the lease loop alone decides what to retry (a breaker that
 * stays open for 5 s would outlast a short TTL).
 */
import { noop } from 'cockatiel';
import { Etcd3, IOptions } from 'etcd3';
import { RpmemError, ErrorCode } from '../../storage/errors';
import type { EtcdConnection } from './candidate-options';

/** A client for `connection` whose unary calls time out after `callTimeoutMs`. */
export function connectEtcd(connection: EtcdConnection, callTimeoutMs: number): Etcd3 {
  const tls = connection.tls;
  const options: IOptions = {
    hosts: connection.hosts,
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: { host: () => noop, global: noop },
    ...(connection.auth !== undefined ? { auth: connection.auth } : {}),
    ...(tls !== undefined ? { credentials: { rootCertificate: tls.ca as Buffer, certChain: tls.cert, privateKey: tls.key } } : {}),
  };
  return new Etcd3(options);
}

/** An etcd failure as an RpmemError (UNAVAILABLE: the candidate retries). */
export function etcdError(what: string, err: unknown): RpmemError {
  if (err instanceof RpmemError) return err;
  return new RpmemError(ErrorCode.UNAVAILABLE, `etcd ${what}: ${err instanceof Error ? err.message : String(err)}`);
}

/** Rejects with RPMEM_E_TIMEOUT when `work` takes longer than `ms` (for streams, which carry no deadline). */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RpmemError(ErrorCode.TIMEOUT, `etcd ${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
