/** The one check of a data-area range that every public persist and read applies first. */
import { RpmemError, ErrorCode } from './errors';

/** Throws RPMEM_E_INVALID_ARGUMENT, RPMEM_E_EMPTY_RANGE or RPMEM_E_OUT_OF_RANGE unless `[offset, offset+length)` lies in `size` bytes. */
export function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(length) || !Number.isSafeInteger(offset)) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `offset and length must be integers, got ${offset} and ${length}`);
  }
  if (length <= 0) throw new RpmemError(ErrorCode.EMPTY_RANGE, `range length must be positive, got ${length}`);
  if (offset < 0 || offset + length > size) {
    throw new RpmemError(ErrorCode.OUT_OF_RANGE, `range [${offset}, +${length}) is outside the pool's ${size} bytes`);
  }
}
