/**
 * gRPC server reflection (v1 and v1alpha, from @grpc/reflection), so `grpcurl -plaintext HOST:PORT
 * list` and `describe` work against rpmemd without a copy of the .proto files; it lists itself too.
 */
import * as path from 'path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { rpmemPackageDefinition } from '../wire/protocol';

/** @grpc/reflection's own .proto files, so that reflection lists and describes itself as grpcurl expects. */
const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection')), '..', 'proto');

/** Adds reflection describing rpmem.v1.Target, grpc.health.v1.Health and both reflection services to `server`. */
export function addReflection(server: grpc.Server): void {
  // Loaded by the same relative name grpc-health-check uses, so reflection's file names match it.
  const health = protoLoader.loadSync('health/v1/health.proto', { includeDirs: [path.resolve(healthProtoPath, '..', '..', '..')] });
  const reflection = protoLoader.loadSync(['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], {
    includeDirs: [REFLECTION_PROTO_DIR],
  });
  new ReflectionService({ ...rpmemPackageDefinition, ...health, ...reflection }).addToServer(server);
}
