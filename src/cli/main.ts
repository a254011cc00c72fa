#!/usr/bin/env node
/**
 * rpmem: the command-line client's entry point (see run.ts; each command is in commands/).
 */
import { runCli } from './run';

void runCli(process.argv.slice(2), process).then((code) => process.exit(code));
