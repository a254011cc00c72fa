/**
 * RpmemError and its stable codes, shared by every layer. How a code travels on the wire (its gRPC
 * status, the code itself in trailing metadata) is the wire's business: src/wire/status.ts.
 */

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
  /** A newer primary raised the pool's epoch: this writer is stale and may not write (docs/design.md I5). */
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
}

/**
 * `err` itself when it is an RpmemError, else one with `code` (RPMEM_E_INTERNAL unless given) and
 * `message` (default: the error's own message) that keeps `err` as its cause: for the places that
 * must hand on an RpmemError whatever a callee threw.
 */
export function asRpmemError(err: unknown, code = ErrorCode.INTERNAL, message?: string): RpmemError {
  if (err instanceof RpmemError) return err;
  return new RpmemError(code, message ?? (err instanceof Error ? err.message : String(err)), { cause: err });
}

/** One line for a person: `CODE: message` for an RpmemError, else the error as a string. */
export function describeError(err: unknown): string {
  return err instanceof RpmemError ? `${err.code}: ${err.message}` : String(err);
}
