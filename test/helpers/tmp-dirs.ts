/**
 * Temporary directories for tests that need real files: each suite makes its own and removes
 * them in its `after` hook, so nothing is left behind even when a test fails.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** tmpfs where it exists: the file system tests use for forced (emulated) cache-line granularity. */
export const SHM_BASE = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

/** Directories made by one suite. */
export class TmpDirs {
  private readonly made: string[] = [];

  /** A fresh directory under `base` (default os.tmpdir()). */
  make(prefix: string, base: string = os.tmpdir()): string {
    const dir = fs.mkdtempSync(path.join(base, `rpmem-test-${prefix}-`));
    this.made.push(dir);
    return dir;
  }

  /** Removes every directory this instance made. */
  removeAll(): void {
    for (const dir of this.made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
