/**
 * RpmemError and its stable codes. Each code maps to exactly one gRPC status (the table below);
 * the string code itself travels in trailing metadata so the other side recovers it exactly.
 */
import { Metadata, status as Status } from '@grpc/grpc-js';

/** Stable error codes. Never renumber or rename: scripts and callers match on them. */
export enum ErrorCode {
  /** A malformed request: bad field, bad flag, bad size. */
  INVALID_ARGUMENT = 'RPMEM_E_INVALID_ARGUMENT',
  /** A pool name outside `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`. */
  BAD_NAME = 'RPMEM_E_BAD_NAME',
  /** A range outside the pool's data area (into the header, or past the end). */
  OUT_OF_RANGE = 'RPMEM_E_OUT_OF_RANGE',
  /** A range of length 0. */
  EMPTY_RANGE = 'RPMEM_E_EMPTY_RANGE',
  /** A range longer than the target's maximum range size. */
  RANGE_TOO_LARGE = 'RPMEM_E_RANGE_TOO_LARGE',
  /** A range whose CRC32C does not match its data. */
  CHECKSUM = 'RPMEM_E_CHECKSUM',
  /** A sequence number that is not exactly one more than the previous one. */
  SEQUENCE = 'RPMEM_E_SEQUENCE',
  /** The client speaks a protocol version the target does not. */
  PROTOCOL = 'RPMEM_E_PROTOCOL',
  /** No pool by that name. */
  NO_POOL = 'RPMEM_E_NO_POOL',
  /** A pool by that name exists already. */
  EXISTS = 'RPMEM_E_EXISTS',
  /** The handle is unknown, expired or of the wrong mode. */
  BAD_HANDLE = 'RPMEM_E_BAD_HANDLE',
  /** The pool is held by another writer, or its file is locked by another process. */
  BUSY = 'RPMEM_E_BUSY',
  /** A configured limit (the maximum pool size, ...) was exceeded. */
  LIMIT = 'RPMEM_E_LIMIT',
  /** The pool header is invalid in both slots. */
  CORRUPT = 'RPMEM_E_CORRUPT',
  /** A flush, sync or file operation failed; the pool handle is failed until reopened. */
  IO = 'RPMEM_E_IO',
  /** The pool or handle is closed. */
  CLOSED = 'RPMEM_E_CLOSED',
  /** An earlier failure made this handle unusable (sticky); reopen it. */
  FAILED = 'RPMEM_E_FAILED',
  /** The granularity available is coarser than the one required. */
  GRANULARITY = 'RPMEM_E_GRANULARITY',
  /** The pool or target gives less durability than the one required (see Durability). */
  DURABILITY = 'RPMEM_E_DURABILITY',
  /** A newer primary raised the pool's epoch: this writer is stale and may not write (DESIGN-NOTES I5). */
  FENCED = 'RPMEM_E_FENCED',
  /** The write policy cannot be met: too few replicas are up. */
  QUORUM = 'RPMEM_E_QUORUM',
  /** The target could not be reached or the stream was lost. Retrying later may succeed. */
  UNAVAILABLE = 'RPMEM_E_UNAVAILABLE',
  /** The target is shutting down. */
  SHUTDOWN = 'RPMEM_E_SHUTDOWN',
  /** A deadline passed. */
  TIMEOUT = 'RPMEM_E_TIMEOUT',
  /** The call carried no token, or one the target does not know. */
  UNAUTHENTICATED = 'RPMEM_E_UNAUTHENTICATED',
  /** The token does not allow this pool or this kind of access. */
  PERMISSION = 'RPMEM_E_PERMISSION',
  /** A bug or an unexpected condition. */
  INTERNAL = 'RPMEM_E_INTERNAL',
}

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

/** Codes a caller may retry after reopening or waiting; everything else is permanent for that request. */
const RECOVERABLE = new Set<ErrorCode>([ErrorCode.UNAVAILABLE, ErrorCode.SHUTDOWN, ErrorCode.TIMEOUT, ErrorCode.BUSY]);

export interface RpmemErrorDetails {
  /** The sequence number a data-plane error is about. */
  seq?: bigint;
  /** The OS errno behind a native failure. */
  errno?: number;
  /** The error that caused this one. */
  cause?: unknown;
}

/** Every error rpmem raises. Match on {@link RpmemError.code}, never on the message. */
export class RpmemError extends Error {
  readonly code: ErrorCode;
  readonly seq?: bigint;
  readonly errno?: number;

  constructor(code: ErrorCode, message: string, details: RpmemErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RpmemError';
    this.code = code;
    if (details.seq !== undefined) this.seq = details.seq;
    if (details.errno !== undefined) this.errno = details.errno;
  }

  /** True when waiting or reopening may let the same operation succeed. */
  get recoverable(): boolean {
    return RECOVERABLE.has(this.code);
  }

  /** The gRPC status this error travels as. */
  get grpcStatus(): Status {
    return STATUS_OF[this.code];
  }
}

export const METADATA_CODE = 'rpmem-code';
export const METADATA_SEQ = 'rpmem-seq';

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** The status object a server sends for `err`: never a stack trace; INTERNAL as the last resort. */
export function toServiceError(err: unknown): { code: Status; details: string; metadata: Metadata } {
  const e = err instanceof RpmemError ? err : new RpmemError(ErrorCode.INTERNAL, 'internal error', { cause: err });
  const metadata = new Metadata();
  metadata.set(METADATA_CODE, e.code);
  if (e.seq !== undefined) metadata.set(METADATA_SEQ, e.seq.toString());
  return { code: e.grpcStatus, details: `${e.code}: ${e.message}`, metadata };
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
