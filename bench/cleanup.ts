/**
 * Everything the bench leaves behind, undone in one place: child processes are stopped and temp
 * dirs removed at the end of their section, and again (as a last resort) on exit or Ctrl-C.
 */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const dirs = new Set<string>();
const children = new Set<ChildProcess>();
const pids = new Set<number>();

/** Where cache-line pools live: tmpfs, emulated pmem. */
export const SHM_DIR = '/dev/shm';

/** A fresh temp dir under `base` (default os.tmpdir()), removed by {@link removeDir} or at exit. */
export function tempDir(label: string, base = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(base, `rpmem-bench-${label}-`));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Tracks a child so it is killed if the bench exits before stopping it. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Tracks a process by PID (a DaemonProcess) so it is killed if the bench exits before stopping it. */
export function trackPid(pid: number): void {
  pids.add(pid);
}

export function untrackPid(pid: number): void {
  pids.delete(pid);
}

/** Kills tracked children (SIGKILL) and removes tracked dirs; synchronous, safe to call twice. */
export function cleanupAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  pids.clear();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

let installed = false;

/** Runs {@link cleanupAll} on exit, and on SIGINT/SIGTERM before exiting. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanupAll();
      process.exit(130);
    });
  }
}
