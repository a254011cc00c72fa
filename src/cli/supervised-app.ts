/**
 * The application `rpmem failover-agent` runs while its node is the primary (the `exec` key): a
 * shell command in a process group of its own, so the agent can stop it and everything it started
 * with one SIGKILL when the term ends (self-fencing by stopping the writer, docs/design.md I8).
 */
import { ChildProcess, spawn } from 'child_process';

/** How the application ended. */
export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the agent killed it (the term ended), false when it exited by itself. */
  killed: boolean;
}

export class SupervisedApp {
  /** Resolves once the application's process (the shell) has exited. */
  readonly exited: Promise<AppExit>;
  private readonly child: ChildProcess;
  private killed = false;
  private gone = false;

  /** Starts `command` with `sh -c`, stdio inherited, `env` added to the agent's environment. */
  constructor(command: string, env: Record<string, string>) {
    this.child = spawn('sh', ['-c', command], { stdio: 'inherit', env: { ...process.env, ...env }, detached: true });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.gone = true;
        resolve({ code, signal, killed: this.killed });
      };
      this.child.once('exit', done);
      // A spawn that failed emits 'error' and maybe no 'exit'.
      this.child.once('error', () => done(127, null));
    });
  }

  /** The process ID of the shell, which is also the ID of the application's process group. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * SIGKILLs the application's whole process group, synchronously: once this returns the signal is
   * pending on every process of the group, none of which runs application code again. Also after
   * the shell exited, for what it left running in the group. A group already gone is no error.
   */
  kill(): void {
    if (this.child.pid === undefined) return;
    if (!this.gone) this.killed = true;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
