/**
 * Block-by-block comparison of the local pool with a replica by digests (16-byte truncated
 * SHA-256 per block), a window at a time so neither side hashes the whole pool in one go.
 * Used by full resync and by verify.
 */
import type { Pool } from './pool';
import type { RemotePool } from './remote-pool';

const WINDOW_BYTES = 64 * 1024 * 1024;

/** A run of differing blocks: data-area byte offsets `[start, end)`. */
export interface DifferingRange {
  start: number;
  end: number;
}

/** Indexes of the `blockBytes` blocks whose digests differ between `local` and `remote`. */
export async function differingBlocks(
  local: Pool,
  remote: RemotePool,
  blockBytes: number,
  onWindow?: (bytesCompared: number) => void,
): Promise<number[]> {
  const differing: number[] = [];
  const window = Math.max(blockBytes, WINDOW_BYTES - (WINDOW_BYTES % blockBytes));
  for (let at = 0; at < local.size; at += window) {
    const length = Math.min(window, local.size - at);
    const theirs = await remote.checksums(at, length, blockBytes);
    const ours = local.checksums(at, length, blockBytes);
    const first = at / blockBytes;
    ours.forEach((digest, i) => {
      if (theirs[i] === undefined || !digest.equals(theirs[i])) differing.push(first + i);
    });
    onWindow?.(at + length);
  }
  return differing;
}

/** Coalesces sorted block indexes into byte ranges, clipped to `size`. */
export function toRanges(blocks: number[], blockBytes: number, size: number): DifferingRange[] {
  const out: DifferingRange[] = [];
  for (const b of blocks) {
    const start = b * blockBytes;
    const end = Math.min(size, start + blockBytes);
    const last = out[out.length - 1];
    if (last !== undefined && last.end === start) last.end = end;
    else out.push({ start, end });
  }
  return out;
}
