/** A process's state letter from /proc (R, S, D, T stopped, Z zombie, ...), for tests that pause or kill processes. */
import * as fs from 'fs';

export function procState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0];
}
