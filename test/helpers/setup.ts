/**
 * Mocha setup: fails fast with a clear message when the addon is not built, and removes the
 * temporary directories tests made, even when a test failed.
 */
import { SHM_BASE, TmpDirs } from './tmp-dirs';

const runDirs = new TmpDirs();

/** A fresh temporary directory under `base` (default os.tmpdir()), removed after the run. */
export function tempDir(prefix: string, base?: string): string {
  return runDirs.make(prefix, base);
}

/** /dev/shm where it exists: the tmpfs tests use for forced cache-line granularity. */
export const SHM_DIR = SHM_BASE;

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    // Loading the native module here turns a missing build into one clear failure instead of many.
    await import('../../src/storage/native');
  },
  async afterAll(): Promise<void> {
    // Imported lazily: test-target imports this file.
    await (await import('./test-target')).stopAllTargets();
    await (await import('./etcd')).stopAllEtcd();
    runDirs.removeAll();
  },
};
