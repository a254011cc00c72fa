/**
 * A bench helper process (tcp-acker.ts, grpc-sink.ts): spawned with this Node, it prints
 * "listening PORT" once, and exits when its stdin closes.
 */
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { trackChild } from './cleanup';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export interface ListeningChild {
  child: ChildProcess;
  port: number;
}

/** Starts `dist/bench/<script>` with `args`; resolves with its port once it listens. */
export async function startListening(script: string, args: string[] = []): Promise<ListeningChild> {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  trackChild(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), START_TIMEOUT_MS);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      out += t;
      const m = /listening (\d+)\n/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code})`));
    });
  });
  return { child, port };
}

/** Closes its stdin and waits for it to exit (SIGKILL after 5 s). */
export async function stopListening({ child }: ListeningChild): Promise<void> {
  child.stdin!.end();
  await new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
