#!/usr/bin/env node
'use strict';
/**
 * healthcheck.js -- container health probe for rpmemd, using node only.
 *
 * Healthy (exit 0) when the daemon answers at the HTTP/2 level within 2 s, with TLS or without:
 *   1. a TLS handshake that negotiates ALPN "h2" (rpmemd with tls-cert/tls-key; with tls-ca too,
 *      since a TLS 1.3 client finishes its handshake before the server checks client certificates);
 *   2. else a plaintext gRPC channel that becomes ready (rpmemd with insecure: true).
 * It sends no rpmem call, so it needs no certificate or token, opens no pool and holds no handle.
 * Unhealthy: exit 1 with one line on stderr.
 *
 * Usage: node deploy/healthcheck.js [HOST:PORT]   (default $RPMEM_HEALTH_TARGET, else 127.0.0.1:7420)
 */
const tls = require('tls');
const grpc = require('@grpc/grpc-js');

const TLS_TIMEOUT_MS = 1000;
const PLAINTEXT_TIMEOUT_MS = 1000;
const HARD_TIMEOUT_MS = 4000;

const target = process.argv[2] || process.env.RPMEM_HEALTH_TARGET || '127.0.0.1:7420';
const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);

function fail(message) {
  process.stderr.write(`healthcheck: rpmemd at ${target} is not ready: ${message}\n`);
  process.exit(1);
}

/** tlsH2 -- resolves true if a TLS handshake with ALPN h2 completes within TLS_TIMEOUT_MS. */
function tlsH2(host, port) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, ALPNProtocols: ['h2'], rejectUnauthorized: false });
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), TLS_TIMEOUT_MS);
    socket.once('secureConnect', () => done(socket.alpnProtocol === 'h2'));
    socket.once('error', () => done(false));
  });
}

/** plaintextReady -- resolves to null if a plaintext gRPC channel becomes ready, else the error. */
function plaintextReady() {
  return new Promise((resolve) => {
    const client = new grpc.Client(target, grpc.credentials.createInsecure());
    client.waitForReady(Date.now() + PLAINTEXT_TIMEOUT_MS, (err) => {
      client.close();
      resolve(err ?? null);
    });
  });
}

async function main() {
  if (m === null) fail('expected HOST:PORT');
  setTimeout(() => fail(`no answer within ${HARD_TIMEOUT_MS} ms`), HARD_TIMEOUT_MS).unref();
  const host = m[1].replace(/^\[|\]$/g, '');
  if (await tlsH2(host, Number(m[2]))) process.exit(0);
  const err = await plaintextReady();
  if (err === null) process.exit(0);
  fail(`no TLS (h2) handshake, and plaintext: ${err.message}`);
}

main().catch((err) => fail(String(err)));
