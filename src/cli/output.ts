/**
 * How `rpmem` talks back: results as text or (with --json) one JSON document on stdout, and
 * progress bars on stderr only when a person is watching (stdout is a terminal and no --json), so
 * pipes and scripts never see control characters.
 */
import { toJson } from './format';
import { ProgressBars } from './progress';

/** The streams a command runs against: the process's, or a test's. */
export interface Io {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

export class Output {
  constructor(
    readonly json: boolean,
    private readonly io: Io,
  ) {}

  /** Prints `human`, or `data` as JSON with --json (bigints as strings, Buffers as hex). */
  result(human: string, data: unknown): void {
    this.io.stdout.write(this.json ? toJson(data) + '\n' : human + '\n');
  }

  /** Progress bars, or undefined when nobody is watching. */
  progress(): ProgressBars | undefined {
    return !this.json && this.io.stdout.isTTY === true ? new ProgressBars(this.io.stderr) : undefined;
  }
}
