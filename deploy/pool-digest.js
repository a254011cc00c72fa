#!/usr/bin/env node
'use strict';
/**
 * pool-digest.js -- SHA-256 of the data area of pool files, independent of rpmem's own code.
 *
 * A pool file is a 4096-byte header followed by the data area. The header holds per-file values
 * (generation counters, durable seq, epoch), so replicas of one pool differ there; their data areas
 * must be byte-identical. Prints one JSON line per file:
 *   {"file":"/var/lib/rpmem/demo","fileBytes":N,"dataBytes":N,"sha256":"..."}
 * Exit codes: 0 done, 1 a file could not be read, 2 bad usage.
 *
 * Usage: node deploy/pool-digest.js FILE [FILE ...]
 */
const crypto = require('crypto');
const fs = require('fs');

const HEADER_BYTES = 4096;

async function digest(file) {
  const { size } = await fs.promises.stat(file);
  if (size < HEADER_BYTES) throw new Error(`${file}: ${size} bytes, smaller than the ${HEADER_BYTES}-byte header`);
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { start: HEADER_BYTES, highWaterMark: 1 << 20 })) hash.update(chunk);
  return { file, fileBytes: size, dataBytes: size - HEADER_BYTES, sha256: hash.digest('hex') };
}

async function main(files) {
  if (files.length === 0) {
    process.stderr.write('usage: node deploy/pool-digest.js FILE [FILE ...]\n');
    return 2;
  }
  for (const file of files) process.stdout.write(JSON.stringify(await digest(file)) + '\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`pool-digest: ${err.message}\n`);
    process.exit(1);
  },
);
