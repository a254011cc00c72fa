/**
 * The wire contract: loads proto/rpmem.proto once and names the constants both sides agree on.
 */
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/rpmem';
import type { Granularity as WireGranularity } from '../generated/rpmem/v1/Granularity';
import type { Granularity } from './native';

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
