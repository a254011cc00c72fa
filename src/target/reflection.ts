/**
 * gRPC server reflection (v1 and v1alpha, from @grpc/reflection), so `grpcurl -plaintext HOST:PORT
 * list` and `describe` work against rpmemd without a copy of the .proto files.
 */
import * as path from 'path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { rpmemPackageDefinition } from '../common/protocol';

/** Adds reflection describing rpmem.v1.Target and grpc.health.v1.Health to `server`. */
export function addReflection(server: grpc.Server): void {
  // Loaded by the same relative name grpc-health-check uses, so reflection's file names match it.
  const health = protoLoader.loadSync('health/v1/health.proto', { includeDirs: [path.resolve(healthProtoPath, '..', '..', '..')] });
  new ReflectionService({ ...rpmemPackageDefinition, ...health }).addToServer(server);
}
