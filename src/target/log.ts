/**
 * rpmemd's structured log: one JSON object per line on stderr, with a level, a time and whatever
 * context the caller binds (pool, peer). Stdout stays free for the one "listening" line.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export class Log {
  constructor(
    private readonly level: LogLevel,
    private readonly context: LogFields = {},
    private readonly sink: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  ) {}

  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Log {
    return new Log(this.level, { ...this.context, ...fields }, this.sink);
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (RANK[level] < RANK[this.level]) return;
    const line = { time: new Date().toISOString(), level, msg, ...this.context, ...fields };
    this.sink(JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  }
}
