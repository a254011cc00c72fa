/**
 * The wire contract: loads proto/rpmem.proto once and names the constants both sides agree on.
 */
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/rpmem';
import type { TargetHandlers } from '../generated/rpmem/v1/Target';
import {
  DecodedPersistRequest,
  PersistAckFrame,
  PersistRequestFrame,
  decodePersistAck,
  decodePersistRequest,
  encodePersistAck,
  encodePersistRequest,
} from './persist-codec';

/** The protocol version this build speaks. A target refuses any other version. */
export const PROTOCOL_VERSION = 1;

/**
 * Default of rpmemd's max-batch-ranges, and the initiator's cap per message for a target that does
 * not state one: a 1 MiB message of 64-byte (cache-line) ranges, decoded in about 15 ms.
 */
export const DEFAULT_MAX_BATCH_RANGES = 16_384;

const PROTO_FILE = path.join(__dirname, '..', '..', '..', 'proto', 'rpmem.proto');

/** rpmem.proto as loaded by proto-loader: the services' and messages' descriptors (reflection serves these). */
export const rpmemPackageDefinition = protoLoader.loadSync(PROTO_FILE, {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** The loaded `rpmem.v1` package: `Target` is both the client constructor and its `.service`. */
export const rpmemV1 = (grpc.loadPackageDefinition(rpmemPackageDefinition) as unknown as ProtoGrpcType).rpmem.v1;

/**
 * What the initiator writes to a Persist stream: a frame, or one it already encoded — a batch is
 * encoded as it is queued on the stream, so its bytes are copied out of the application's buffer
 * at a known moment (docs/design.md I7) rather than whenever the stream's writable buffer drains.
 */
export type OutgoingPersistRequest = PersistRequestFrame | Buffer;

/** A method definition whose target side decodes to a wider type than its initiator side encodes. */
export interface PersistMethodDefinition extends grpc.ServerMethodDefinition<DecodedPersistRequest, PersistAckFrame> {
  requestSerialize: grpc.serialize<OutgoingPersistRequest>;
  responseDeserialize: grpc.deserialize<PersistAckFrame>;
}

/** The Persist method with persist-codec's (de)serializers in place of proto-loader's; same path, same wire bytes. */
export const persistMethod: PersistMethodDefinition = {
  path: rpmemV1.Target.service.Persist.path,
  originalName: rpmemV1.Target.service.Persist.originalName,
  requestStream: true,
  responseStream: true,
  requestSerialize: (m) => (Buffer.isBuffer(m) ? m : encodePersistRequest(m)),
  requestDeserialize: decodePersistRequest,
  responseSerialize: encodePersistAck,
  responseDeserialize: decodePersistAck,
};

/** The Target service as rpmemd registers it: proto-loader's definition with {@link persistMethod} for Persist. */
export const targetService: grpc.ServiceDefinition = { ...rpmemV1.Target.service, Persist: persistMethod };

/** Handlers for {@link targetService}: the generated ones, with Persist speaking persist-codec's types. */
export type TargetServiceHandlers = Omit<TargetHandlers, 'Persist'> & {
  Persist: grpc.handleBidiStreamingCall<DecodedPersistRequest, PersistAckFrame>;
};
