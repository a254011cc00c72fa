/**
 * The daemon's transport security: TLS, mutual TLS when a CA is given, plaintext only when the
 * config says `insecure`.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';
import * as grpc from '@grpc/grpc-js';
import { RpmemError, ErrorCode } from '../storage/errors';
import type { TargetConfig } from './config-keys';

function readPem(key: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `config "${key}": cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Server credentials for `config`: TLS (client certificates required when tls-ca is set) or insecure. */
export function serverCredentials(config: TargetConfig): grpc.ServerCredentials {
  if (config.insecure) return grpc.ServerCredentials.createInsecure();
  const cert = readPem('tls-cert', config.tlsCert!);
  const key = readPem('tls-key', config.tlsKey!);
  const ca = config.tlsCa === undefined ? null : readPem('tls-ca', config.tlsCa);
  try {
    // grpc-js parses the PEM files only when it binds; parsing them here names the bad one at once.
    tls.createSecureContext({ cert, key, ca: ca ?? undefined });
  } catch (err) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `config "tls-cert", "tls-key", "tls-ca": ${(err as Error).message}`);
  }
  return grpc.ServerCredentials.createSsl(ca, [{ private_key: key, cert_chain: cert }], ca !== null);
}

/** True for 127.0.0.0/8, ::1 and localhost: plaintext there never leaves the machine. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  return bare === '::1';
}
