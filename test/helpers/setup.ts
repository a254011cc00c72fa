/**
 * Mocha setup: fails fast with a clear message when the addon is not built, and removes the
 * temporary directories tests made, even when a test failed.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const made: string[] = [];

/** A fresh temporary directory under `base` (default os.tmpdir()), removed after the run. */
export function tempDir(prefix: string, base: string = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(base, `rpmem-test-${prefix}-`));
  made.push(dir);
  return dir;
}

/** /dev/shm where it exists: the tmpfs tests use for forced cache-line granularity. */
export const SHM_DIR = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

export const mochaHooks = {
  beforeAll(): void {
    // Loading the native module here turns a missing build into one clear failure instead of many.
    require('../../src/common/native');
  },
  async afterAll(): Promise<void> {
    // Required lazily: test-target imports this file.
    await (require('./test-target') as typeof import('./test-target')).stopAllTargets();
    for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  },
};
