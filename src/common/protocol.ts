/**
 * The wire contract: loads proto/rpmem.proto once and names the constants both sides agree on.
 */
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/rpmem';
import type { TargetHandlers } from '../generated/rpmem/v1/Target';
import type { Granularity as WireGranularity } from '../generated/rpmem/v1/Granularity';
import type { Granularity } from './native';
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

/** Bytes at the start of every pool file reserved for its header; writes below this are refused. */
export const HEADER_BYTES = 4096;

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

/** A method definition whose target side decodes to a wider type than its initiator side encodes. */
export interface PersistMethodDefinition extends grpc.ServerMethodDefinition<DecodedPersistRequest, PersistAckFrame> {
  requestSerialize: grpc.serialize<PersistRequestFrame>;
  responseDeserialize: grpc.deserialize<PersistAckFrame>;
}

/** The Persist method with persist-codec's (de)serializers in place of proto-loader's; same path, same wire bytes. */
export const persistMethod: PersistMethodDefinition = {
  path: rpmemV1.Target.service.Persist.path,
  originalName: rpmemV1.Target.service.Persist.originalName,
  requestStream: true,
  responseStream: true,
  requestSerialize: encodePersistRequest,
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

const WIRE_GRANULARITY: Record<Granularity, WireGranularity> = {
  'cache-line': 'GRANULARITY_CACHE_LINE',
  page: 'GRANULARITY_PAGE',
};

/** Granularity as the proto enum. */
export function toWireGranularity(g: Granularity): WireGranularity {
  return WIRE_GRANULARITY[g];
}

/** Granularity from the proto enum; `undefined` for UNSPECIFIED or unknown values. */
export function fromWireGranularity(g: WireGranularity | string | number | undefined): Granularity | undefined {
  if (g === 'GRANULARITY_CACHE_LINE' || g === 1) return 'cache-line';
  if (g === 'GRANULARITY_PAGE' || g === 2) return 'page';
  return undefined;
}
