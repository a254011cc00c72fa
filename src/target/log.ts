/**
 * rpmemd's structured log, on pino: one JSON object per line on stderr (level, ISO time, msg, and
 * whatever context the caller binds: pool, peer, method), or pino-pretty's human form when stderr
 * is a terminal. Stdout stays free for the one "listening" line.
 *
 * Writes are synchronous so the last lines before an exit are never lost; the daemon logs per
 * request and per stream, never per range, so this costs nothing measurable.
 */
import pino from 'pino';
import pinoPretty from 'pino-pretty';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `auto`: pretty when stderr is a terminal, JSON otherwise (journald, files, pipes). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

/**
 * Field names that may carry credentials. rpmemd never passes call metadata to the log, and these
 * paths are censored in case a future caller does by mistake.
 */
const REDACT_PATHS = ['authorization', 'token', 'metadata', '*.authorization', '*.token', '*.metadata'];

export interface LogOptions {
  /** Default `auto`. */
  format?: LogFormat;
  /** Where lines go. Default stderr. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
  /** The logger a child extends (set by {@link Log.child}). */
  parent?: pino.Logger;
}

export class Log {
  private readonly logger: pino.Logger;

  constructor(
    private readonly level: LogLevel,
    context: LogFields = {},
    options: LogOptions = {},
  ) {
    this.logger = (options.parent ?? root(level, options)).child(context);
  }

  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Log {
    return new Log(this.level, fields, { parent: this.logger });
  }

  debug(msg: string, fields?: LogFields): void {
    this.logger.debug(fields ?? {}, msg);
  }

  info(msg: string, fields?: LogFields): void {
    this.logger.info(fields ?? {}, msg);
  }

  warn(msg: string, fields?: LogFields): void {
    this.logger.warn(fields ?? {}, msg);
  }

  error(msg: string, fields?: LogFields): void {
    this.logger.error(fields ?? {}, msg);
  }
}

function root(level: LogLevel, options: LogOptions): pino.Logger {
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && options.destination === undefined && process.stderr.isTTY === true);
  const destination = pretty
    ? pinoPretty({ destination: options.destination ?? 2, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
    : (options.destination ?? pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}
