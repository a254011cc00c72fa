/**
 * What /proc says about another process: CPU time (utime + stime) and memory (VmRSS, RssAnon).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`, usually 100). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system) process `pid` has used so far. */
export function processCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

export interface ProcessMemory {
  vmRssBytes: number;
  rssAnonBytes: number;
}

/** Resident memory of process `pid` (VmRSS, and its anonymous part RssAnon). */
export function processMemory(pid: number): ProcessMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m === null ? NaN : Number(m[1]) * 1024;
  };
  return { vmRssBytes: kb('VmRSS'), rssAnonBytes: kb('RssAnon') };
}

/** This process's CPU seconds (user + system) so far. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface MemoryPeak {
  /** Peak VmRSS of the watched process (target), or RSS of this one. */
  rssBytes: number;
  /** Peak RssAnon (target only). */
  rssAnonBytes?: number;
  /** This process only: peak heapUsed, external and arrayBuffers. */
  heapUsedBytes?: number;
  externalBytes?: number;
  arrayBuffersBytes?: number;
  samples: number;
}

/** Samples memory every `intervalMs` until stopped: of process `pid`, or of this process when omitted. */
export class MemorySampler {
  private readonly timer: NodeJS.Timeout;
  private readonly peak: MemoryPeak = { rssBytes: 0, samples: 0 };

  constructor(
    private readonly pid?: number,
    intervalMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): MemoryPeak {
    clearInterval(this.timer);
    this.sample();
    return { ...this.peak };
  }

  private sample(): void {
    const p = this.peak;
    p.samples++;
    if (this.pid !== undefined) {
      try {
        const m = processMemory(this.pid);
        p.rssBytes = Math.max(p.rssBytes, m.vmRssBytes);
        p.rssAnonBytes = Math.max(p.rssAnonBytes ?? 0, m.rssAnonBytes);
      } catch {
        // the process is gone
      }
      return;
    }
    const m = process.memoryUsage();
    p.rssBytes = Math.max(p.rssBytes, m.rss);
    p.heapUsedBytes = Math.max(p.heapUsedBytes ?? 0, m.heapUsed);
    p.externalBytes = Math.max(p.externalBytes ?? 0, m.external);
    p.arrayBuffersBytes = Math.max(p.arrayBuffersBytes ?? 0, m.arrayBuffers);
  }
}
