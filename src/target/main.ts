#!/usr/bin/env node
/**
 * rpmemd: the target daemon's entry point. Parses flags, starts the server, prints
 * "rpmemd listening on HOST:PORT" on stdout, and shuts down gracefully on SIGTERM or SIGINT.
 * With --check-config it validates (the TLS and token files too), prints the effective config as
 * JSON, and exits instead.
 */
import * as fs from 'fs';
import { RpmemError, ErrorCode, describeError } from '../storage/errors';
import { VERSION } from '../version';
import { USAGE, effectiveConfig, parseTargetArgs } from './config';
import { Authenticator } from './auth';
import { Log } from './log';
import { TargetServer } from './server';
import { serverCredentials } from './tls';

async function main(argv: string[]): Promise<number> {
  const parsed = parseTargetArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`rpmemd ${VERSION}\n`);
    return 0;
  }
  const { config } = parsed;
  if (!fs.statSync(config.poolDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `pool-dir ${config.poolDir} is not a directory`);
  }
  if (parsed.kind === 'check') {
    serverCredentials(config);
    if (config.authTokenFile !== undefined) Authenticator.load(config.authTokenFile);
    process.stdout.write(JSON.stringify(effectiveConfig(config), null, 2) + '\n');
    return 0;
  }
  const log = new Log(config.logLevel, { svc: 'rpmemd' }, { format: config.logFormat });
  const server = new TargetServer(config, log);
  const { host, port } = await server.start();
  process.stdout.write(`rpmemd listening on ${host}:${port}\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('signal received', { signal });
      server.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { err: String(err) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`rpmemd: ${describeError(err)}\n`);
    process.exit(2);
  },
);
