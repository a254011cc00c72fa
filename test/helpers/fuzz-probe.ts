/**
 * Samples a live process from /proc/PID: open file descriptors and resident memory, on a timer,
 * for the fuzz harness's leak bounds and the memory checks of other tests (TestTarget.rssBytes).
 */
import * as fs from 'fs';

export interface ProcSample {
  /** ms since the probe started. */
  at: number;
  fds: number;
  /** VmRSS, bytes. */
  rss: number;
  /** RssAnon / RssFile / RssShmem, bytes (mapped pool files count in RssFile or RssShmem). */
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
  threads: number;
}

/** One sample of `pid`; undefined if the process is gone. */
export function sampleProc(pid: number, at = 0): ProcSample | undefined {
  try {
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status);
      return m === null ? 0 : Number(m[1]) * 1024;
    };
    const threads = /^Threads:\s+(\d+)/m.exec(status);
    return {
      at,
      fds,
      rss: kb('VmRSS'),
      rssAnon: kb('RssAnon'),
      rssFile: kb('RssFile'),
      rssShmem: kb('RssShmem'),
      threads: threads === null ? 0 : Number(threads[1]),
    };
  } catch {
    return undefined;
  }
}

export const MB = 1024 * 1024;

export function fmtMB(bytes: number): string {
  return `${(bytes / MB).toFixed(1)}MB`;
}

/** Samples `pid` every `intervalMs` until stopped; keeps every sample (a run of minutes is a few hundred). */
export class ProcProbe {
  readonly samples: ProcSample[] = [];
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    private readonly intervalMs = 2000,
    private readonly onSample?: (s: ProcSample | undefined) => void,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sample(): ProcSample | undefined {
    const s = sampleProc(this.pid, Date.now() - this.started);
    if (s !== undefined) this.samples.push(s);
    this.onSample?.(s);
    return s;
  }

  get peakRss(): number {
    return Math.max(0, ...this.samples.map((s) => s.rss));
  }

  get peakFds(): number {
    return Math.max(0, ...this.samples.map((s) => s.fds));
  }

  /** Mean RSS of the samples taken in `[fromMs, toMs)`; undefined if there are none. */
  meanRss(fromMs: number, toMs: number): number | undefined {
    const in_ = this.samples.filter((s) => s.at >= fromMs && s.at < toMs);
    return in_.length === 0 ? undefined : in_.reduce((n, s) => n + s.rss, 0) / in_.length;
  }
}

/**
 * Established TCP connections whose local end is `host:port` (the daemon's side of its clients'
 * connections), from /proc/net/tcp{,6}; an IPv6 or named host is matched on the port alone.
 */
export function connectionsTo(host: string, port: number): number {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  // /proc/net/tcp writes an IPv4 address as its 32-bit value in host (little-endian) byte order.
  const hexIp =
    v4 === null
      ? undefined
      : v4
          .slice(1)
          .reverse()
          .map((b) => Number(b).toString(16).padStart(2, '0'))
          .join('')
          .toUpperCase();
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '01') continue; // st 01 is ESTABLISHED
      const [ip, p] = f[1].split(':');
      if (parseInt(p, 16) === port && (hexIp === undefined ? true : !file.endsWith('6') && ip === hexIp)) n++;
    }
  }
  return n;
}
