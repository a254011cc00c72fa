/**
 * How an RpmemError travels: each code as exactly one gRPC status (the table below), and the code
 * itself (and the seq a data-plane error is about) in trailing metadata, so that the other side
 * recovers it exactly. The target converts every error here, the initiator every status here.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';
import { RpmemError, ErrorCode, asRpmemError } from '../storage/errors';

const STATUS_OF: Record<ErrorCode, Status> = {
  [ErrorCode.INVALID_ARGUMENT]: Status.INVALID_ARGUMENT,
  [ErrorCode.BAD_NAME]: Status.INVALID_ARGUMENT,
  [ErrorCode.OUT_OF_RANGE]: Status.OUT_OF_RANGE,
  [ErrorCode.EMPTY_RANGE]: Status.INVALID_ARGUMENT,
  [ErrorCode.RANGE_TOO_LARGE]: Status.INVALID_ARGUMENT,
  [ErrorCode.CHECKSUM]: Status.DATA_LOSS,
  [ErrorCode.SEQUENCE]: Status.FAILED_PRECONDITION,
  [ErrorCode.PROTOCOL]: Status.FAILED_PRECONDITION,
  [ErrorCode.NO_POOL]: Status.NOT_FOUND,
  [ErrorCode.EXISTS]: Status.ALREADY_EXISTS,
  [ErrorCode.BAD_HANDLE]: Status.NOT_FOUND,
  [ErrorCode.BUSY]: Status.ABORTED,
  [ErrorCode.LIMIT]: Status.RESOURCE_EXHAUSTED,
  [ErrorCode.CORRUPT]: Status.DATA_LOSS,
  [ErrorCode.IO]: Status.INTERNAL,
  [ErrorCode.CLOSED]: Status.FAILED_PRECONDITION,
  [ErrorCode.FAILED]: Status.FAILED_PRECONDITION,
  [ErrorCode.GRANULARITY]: Status.FAILED_PRECONDITION,
  [ErrorCode.DURABILITY]: Status.FAILED_PRECONDITION,
  [ErrorCode.FENCED]: Status.FAILED_PRECONDITION,
  [ErrorCode.QUORUM]: Status.UNAVAILABLE,
  [ErrorCode.UNAVAILABLE]: Status.UNAVAILABLE,
  [ErrorCode.SHUTDOWN]: Status.UNAVAILABLE,
  [ErrorCode.TIMEOUT]: Status.DEADLINE_EXCEEDED,
  [ErrorCode.UNAUTHENTICATED]: Status.UNAUTHENTICATED,
  [ErrorCode.PERMISSION]: Status.PERMISSION_DENIED,
  [ErrorCode.INTERNAL]: Status.INTERNAL,
};

/** The gRPC status `code` travels as. */
export function grpcStatusOf(code: ErrorCode): Status {
  return STATUS_OF[code];
}

export const METADATA_CODE = 'rpmem-code';
export const METADATA_SEQ = 'rpmem-seq';

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** The status object a server sends for `err`: never a stack trace; INTERNAL as the last resort. */
export function toServiceError(err: unknown): { code: Status; details: string; metadata: Metadata } {
  const e = asRpmemError(err, ErrorCode.INTERNAL, 'internal error');
  const metadata = new Metadata();
  metadata.set(METADATA_CODE, e.code);
  if (e.seq !== undefined) metadata.set(METADATA_SEQ, e.seq.toString());
  return { code: grpcStatusOf(e.code), details: `${e.code}: ${e.message}`, metadata };
}

const CODE_OF_STATUS: Partial<Record<Status, ErrorCode>> = {
  [Status.UNAVAILABLE]: ErrorCode.UNAVAILABLE,
  [Status.DEADLINE_EXCEEDED]: ErrorCode.TIMEOUT,
  [Status.CANCELLED]: ErrorCode.CLOSED,
  [Status.INVALID_ARGUMENT]: ErrorCode.INVALID_ARGUMENT,
  [Status.UNIMPLEMENTED]: ErrorCode.PROTOCOL,
  [Status.RESOURCE_EXHAUSTED]: ErrorCode.LIMIT,
  [Status.INTERNAL]: ErrorCode.INTERNAL,
  [Status.UNKNOWN]: ErrorCode.INTERNAL,
  [Status.UNAUTHENTICATED]: ErrorCode.UNAUTHENTICATED,
  [Status.PERMISSION_DENIED]: ErrorCode.PERMISSION,
};

/** Converts an error from a gRPC call into an RpmemError: the single place the client does this. */
export function fromServiceError(err: unknown): RpmemError {
  if (err instanceof RpmemError) return err;
  const e = err as { code?: number; details?: string; message?: string; metadata?: Metadata };
  const sent = e.metadata?.get(METADATA_CODE)[0];
  const seq = e.metadata?.get(METADATA_SEQ)[0];
  const details = e.details ?? e.message ?? 'unknown error';
  if (typeof sent === 'string' && KNOWN_CODES.has(sent)) {
    const prefix = `${sent}: `;
    const message = details.startsWith(prefix) ? details.slice(prefix.length) : details;
    return new RpmemError(sent as ErrorCode, message, {
      seq: typeof seq === 'string' ? BigInt(seq) : undefined,
      cause: err,
    });
  }
  const code = (e.code !== undefined && CODE_OF_STATUS[e.code as Status]) || ErrorCode.INTERNAL;
  return new RpmemError(code, details, { cause: err });
}
