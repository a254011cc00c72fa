#!/usr/bin/env node
'use strict';
/**
 * drill.js -- the steps of the docker-compose failover drill. Plain Node, no dependencies, no mocha.
 *
 * test/compose/run.sh prepares everything (podman, docker-compose, images, the three nodes up, the
 * bridge MAC pinned), runs this file, and tears everything down. It can also be run by hand against
 * a cluster that is up, with the same environment (DOCKER_HOST, COMPOSE_PROJECT_NAME, RPMEM_IMAGE).
 *
 * Three parts, each a list of steps; the first failure stops the drill (later steps depend on it):
 *   target drill      rpmemd and the rpmem CLI only: the image's rpmemd.conf is valid and, given a
 *                     certificate, serves TLS that the HEALTHCHECK recognizes; pools survive stop
 *                     (SIGTERM) and kill (SIGKILL) of a node, the other nodes keep serving, data
 *                     read back is intact.
 *   replicated drill  the demo initiator (dist/src/demo/replicated.js) replicating to node1..3 with
 *                     ack=majority: stop node2, start it, kill node3, start it, watching its JSON
 *                     log (progress is records acknowledged after the fault); stop it gracefully;
 *                     `rpmem verify`; data-area SHA-256 of every pool file (deploy/pool-digest.js,
 *                     independent of verify); `rpmem promote` (the manual failover); every record
 *                     the old primary acknowledged is on every replica (check-records.js); the old
 *                     primary restarted is fenced (RPMEM_E_FENCED); the promoted pool runs as the
 *                     new primary, acknowledges new records after the old ones, verifies identical.
 *   automatic drill    etcd and two FailoverCandidates (candidate1, candidate2) for the pool "auto":
 *                     one is elected and acknowledges records, the other stands by; SIGKILL of the
 *                     primary's container: the standby is elected by itself, continues after the
 *                     last record the old one acknowledged, acknowledges new ones; every record the
 *                     old primary acknowledged is on every replica, as it wrote it; the old primary
 *                     restarted rejoins as a standby and acknowledges nothing; SIGTERM of the new
 *                     primary hands the role back (lease revoked) with nothing lost; `rpmem status
 *                     --etcd` names the primary. Then the same group under `rpmem failover-agent`
 *                     (YAML config): elected, standby, SIGKILL -> the other agent elected by itself
 *                     with every record the last primary acknowledged still on every replica,
 *                     the killed one restarted as a standby; both stop with exit 0.
 * A step whose code is missing from the image (replicated.js, verify, promote) or whose tool is
 * missing on the host (openssl) fails the drill; with RPMEM_DRILL_STRICT=0 it is skipped, and says so.
 *
 * Environment:
 *   RPMEM_DRILL_STRICT=0    a step that cannot run (its code or tool is missing) is skipped instead
 *                           of failing the drill (default: it fails)
 *   RPMEM_DRILL_PARTS       comma list of parts to run: target,replicated,automatic (default all)
 *   RPMEM_DRILL_RESULT      file to write {"passed","failed","skipped"} to (run.sh prints the summary)
 * Every command and every wait is bounded in time and in tries. Exit 0 if no step failed, else 1.
 */
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');

const REPLICAS = ['node1:7420/demo', 'node2:7420/demo', 'node3:7420/demo'];
const NODES = ['node1', 'node2', 'node3'];
const PRIMARY_POOL = '/var/lib/rpmem-initiator/primary.pool';
const PROMOTED_POOL = '/var/lib/rpmem-initiator/promoted.pool';
const DEMO_POOL_BYTES = 67108864; // RPMEM_POOL_SIZE in docker-compose.yml
const CLI = ['node', 'dist/src/cli/main.js'];

const STRICT = process.env.RPMEM_DRILL_STRICT !== '0';
const PARTS = new Set((process.env.RPMEM_DRILL_PARTS || 'target,replicated,automatic').split(',').map((s) => s.trim()));

const COMMAND_TIMEOUT_MS = 90_000;
const HEALTH_TIMEOUT_MS = 60_000;
const EVENT_TIMEOUT_MS = 45_000;
const RESYNC_TIMEOUT_MS = 180_000;
const POLL_MS = 500;
/** Records a primary must acknowledge, after the step's fault or start, for the step to count it as serving. */
const MIN_NEW_ACKS = 200;
/** The candidates' lease TTL (RPMEM_TTL in docker-compose.yml): a takeover may take this long before the promotion starts. */
const CANDIDATE_TTL_MS = 5000;
const TAKEOVER_TIMEOUT_MS = CANDIDATE_TTL_MS + 60_000;

const T0 = Date.now();
const counts = { passed: 0, failed: 0, skipped: 0 };

class DrillError extends Error {}

// ---- output ------------------------------------------------------------------------------------

function secondsSince(t) {
  return ((Date.now() - t) / 1000).toFixed(1);
}

function say(message) {
  process.stdout.write(`[drill ${secondsSince(T0).padStart(6)}s] ${message}\n`);
}

// ---- processes ---------------------------------------------------------------------------------

/** sleepMs -- block this (sequential) driver for ms milliseconds. */
function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** run -- run a command to completion within timeoutMs; throws DrillError on a non-zero exit unless check is false. */
function run(cmd, args, { input, check = true, timeoutMs = COMMAND_TIMEOUT_MS, binary = false } = {}) {
  const t = Date.now();
  const r = spawnSync(cmd, args, {
    input: input ?? '',
    encoding: binary ? 'buffer' : 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 256 << 20,
  });
  const res = { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Date.now() - t };
  if (r.error || (check && res.code !== 0)) {
    const why = r.error ? r.error.message : `exit ${res.code ?? res.signal}`;
    throw new DrillError(
      `\`${cmd} ${args.join(' ')}\` failed (${why}) after ${res.ms} ms\n${String(res.stdout).slice(-2000)}${String(res.stderr).slice(-2000)}`,
    );
  }
  return res;
}

const compose = (args, opts) => run('docker-compose', args, opts);
const podman = (args, opts) => run('podman', args, opts);

/** rpmem -- the rpmem CLI in a throwaway container of the initiator service (no dependencies started). */
function rpmem(args, opts) {
  return compose(['run', '--rm', '--no-deps', '-T', 'initiator', ...CLI, ...args], opts);
}

const containerIds = new Map();

/** containerId -- the container of a compose service (running or stopped; stop/start/kill keep it). */
function containerId(service) {
  let id = containerIds.get(service);
  if (id === undefined) {
    id = compose(['ps', '-q', service], { timeoutMs: 30_000 }).stdout.trim().split('\n')[0];
    if (!id) throw new DrillError(`service ${service} has no container`);
    containerIds.set(service, id);
  }
  return id;
}

/** state -- {status, exitCode} of a service's container. */
function state(service) {
  const out = podman(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', containerId(service)], { timeoutMs: 30_000 });
  const [status, exitCode] = out.stdout.trim().split(' ');
  return { status, exitCode: Number(exitCode) };
}

/**
 * waitFor -- poll probe() until it returns {ok: true, value}, at most timeoutMs and a bounded number
 * of tries; throws with the last observation. probe returns {ok, value, seen} (seen: what it saw).
 */
function waitFor(what, probe, { timeoutMs = EVENT_TIMEOUT_MS, pollMs = POLL_MS } = {}) {
  const deadline = Date.now() + timeoutMs;
  const maxTries = Math.ceil(timeoutMs / pollMs) + 1;
  let seen = 'nothing yet';
  for (let tries = 0; tries < maxTries && Date.now() <= deadline; tries++) {
    const r = probe();
    if (r.ok) return r.value;
    if (r.seen !== undefined) seen = r.seen;
    sleepMs(pollMs);
  }
  throw new DrillError(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}`);
}

/**
 * waitHealthy -- run each service's HEALTHCHECK (deploy/healthcheck.js) until it passes. podman runs
 * healthchecks from systemd timers, and this machine has no systemd, so the drill runs them itself;
 * that also records the status that `depends_on: condition: service_healthy` reads.
 */
function waitHealthy(services, timeoutMs = HEALTH_TIMEOUT_MS) {
  for (const service of services) {
    const id = containerId(service);
    waitFor(
      `${service} healthy`,
      () => {
        const r = podman(['healthcheck', 'run', id], { check: false, timeoutMs: 15_000 });
        return { ok: r.code === 0, seen: `${service}: exit ${r.code} ${r.stdout.trim()} ${r.stderr.trim()}` };
      },
      { timeoutMs, pollMs: 1000 },
    );
  }
}

/** digest -- SHA-256 of a pool file's data area, by deploy/pool-digest.js inside a container. */
function digest(service, file, how = 'exec') {
  const args =
    how === 'exec'
      ? ['exec', '-T', service, 'node', 'deploy/pool-digest.js', file]
      : ['run', '--rm', '--no-deps', '-T', service, 'node', 'deploy/pool-digest.js', file];
  return JSON.parse(compose(args).stdout.trim().split('\n').pop());
}

// ---- steps -------------------------------------------------------------------------------------

function writeResult() {
  if (process.env.RPMEM_DRILL_RESULT) fs.writeFileSync(process.env.RPMEM_DRILL_RESULT, JSON.stringify(counts) + '\n');
}

function diagnostics() {
  say('---- diagnostics: docker-compose ps ----');
  const ps = compose(['ps'], { check: false, timeoutMs: 30_000 });
  process.stdout.write(ps.stdout + ps.stderr);
  for (const service of [...NODES, 'initiator', 'etcd', 'candidate1', 'candidate2']) {
    say(`---- diagnostics: last 60 log lines of ${service} ----`);
    const logs = compose(['logs', '--no-color', '--tail=60', service], { check: false, timeoutMs: 30_000 });
    process.stdout.write(logs.stdout + logs.stderr);
  }
}

function finish() {
  writeResult();
  say(`done: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  process.exit(counts.failed > 0 ? 1 : 0);
}

/** step -- run one step; on failure print diagnostics and stop the drill. */
function step(name, fn) {
  const t = Date.now();
  say(`STEP ${name}`);
  try {
    const detail = fn();
    counts.passed++;
    say(`  ok   ${name} (${secondsSince(t)} s)${detail ? `: ${detail}` : ''}`);
  } catch (err) {
    counts.failed++;
    say(`  FAIL ${name} (${secondsSince(t)} s): ${err instanceof DrillError ? err.message : err.stack}`);
    diagnostics();
    finish();
  }
}

/** skip -- record a step that cannot run (a failure unless RPMEM_DRILL_STRICT=0). */
function skip(name, why) {
  if (STRICT) {
    counts.failed++;
    say(`  FAIL ${name}: skipped in strict mode: ${why}`);
    finish();
  }
  counts.skipped++;
  say(`  SKIP ${name}: ${why}`);
}

function assert(cond, message) {
  if (!cond) throw new DrillError(message);
}

// ---- target drill: rpmemd + rpmem CLI only ------------------------------------------------------

const DRILL_POOL = 'drill';
const DRILL_POOL_BYTES = 1 << 20;
const PATTERN_OFFSET = 12345; // unaligned on purpose
const PATTERN_BYTES = 64 << 10;
const SECOND_OFFSET = 900_000;
const SECOND = Buffer.from('written after node3 was SIGKILLed and restarted\n');

/** pattern -- deterministic bytes (SHA-256 counter stream). */
function pattern(length) {
  const out = Buffer.alloc(length);
  for (let i = 0, o = 0; o < length; i++, o += 32) crypto.createHash('sha256').update(`rpmem-drill-${i}`).digest().copy(out, o);
  return out;
}

function expectedDataSha(withSecond) {
  const area = Buffer.alloc(DRILL_POOL_BYTES);
  pattern(PATTERN_BYTES).copy(area, PATTERN_OFFSET);
  if (withSecond) SECOND.copy(area, SECOND_OFFSET);
  return crypto.createHash('sha256').update(area).digest('hex');
}

/**
 * readBackSha -- `rpmem read` of a range into a file inside a throwaway container, and the SHA-256
 * of what it read. (docker-compose 1.29's `run` can cut a large stdout short, so the bytes stay in
 * the container and only their digest comes back.)
 */
function readBackSha(node, offset, length) {
  const script =
    'node dist/src/cli/main.js read --target "$1" --offset "$2" --length "$3" --out /tmp/read.bin "$4" && ' +
    'node -e \'const d = require("fs").readFileSync("/tmp/read.bin"); ' +
    'console.log(d.length + " " + require("crypto").createHash("sha256").update(d).digest("hex"))\'';
  const out = compose([
    'run',
    '--rm',
    '--no-deps',
    '-T',
    'initiator',
    'sh',
    '-c',
    script,
    'sh',
    `${node}:7420`,
    String(offset),
    String(length),
    DRILL_POOL,
  ]);
  const [bytes, sha256] = out.stdout.trim().split('\n').pop().split(' ');
  return { bytes: Number(bytes), sha256 };
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function checkDigests(nodes, withSecond) {
  const want = expectedDataSha(withSecond);
  for (const node of nodes) {
    const d = digest(node, `/var/lib/rpmem/${DRILL_POOL}`);
    assert(d.dataBytes === DRILL_POOL_BYTES, `${node}: data area is ${d.dataBytes} bytes, want ${DRILL_POOL_BYTES}`);
    assert(d.sha256 === want, `${node}: data-area sha256 ${d.sha256}, want ${want}`);
  }
  return want.slice(0, 16);
}

/** selfSignedCert -- a throwaway key and certificate for localhost, made with the host's openssl. */
function selfSignedCert() {
  const dir = fs.mkdtempSync('/tmp/rpmem-drill-tls-');
  try {
    run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      `${dir}/server.key`,
      '-out',
      `${dir}/server.crt`,
    ]);
    return { cert: fs.readFileSync(`${dir}/server.crt`, 'utf8'), key: fs.readFileSync(`${dir}/server.key`, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Inside a node's container: rpmemd with the image's own /etc/rpmem/rpmemd.conf (TLS), a throwaway
 * certificate in place of the mounted one, on a second port; then deploy/healthcheck.js against it.
 * Prints {"health": exit code, "listening": line}. Runs as the image's user, bounded by timers.
 */
const TLS_PROBE = `
  const fs = require('fs');
  const { spawn, spawnSync } = require('child_process');
  const dir = fs.mkdtempSync('/tmp/tls-probe-');
  fs.mkdirSync(dir + '/pools');
  fs.writeFileSync(dir + '/server.crt', process.env.PROBE_CERT);
  fs.writeFileSync(dir + '/server.key', process.env.PROBE_KEY, { mode: 0o600 });
  const args = ['dist/src/target/main.js', '--config', '/etc/rpmem/rpmemd.conf', '--listen', '127.0.0.1:7421',
    '--pool-dir', dir + '/pools', '--tls-cert', dir + '/server.crt', '--tls-key', dir + '/server.key'];
  const check = spawnSync('node', [...args, '--check-config'], { encoding: 'utf8', timeout: 10000 });
  const config = check.status === 0 ? JSON.parse(check.stdout) : { exit: check.status, stderr: check.stderr };
  const d = spawn('node', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  d.stderr.on('data', (c) => (err += c));
  const finish = (result) => { d.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); console.log(JSON.stringify({ config, ...result })); process.exit(0); };
  setTimeout(() => finish({ health: null, listening: out.trim(), stderr: err.slice(-500) }), 15000).unref();
  d.stdout.on('data', (c) => {
    out += c;
    if (!out.includes('listening')) return;
    const h = spawnSync('node', ['deploy/healthcheck.js', '127.0.0.1:7421'], { encoding: 'utf8', timeout: 10000 });
    finish({ health: h.status, listening: out.trim(), stderr: h.stderr });
  });`;

function targetDrill() {
  say('==== target drill: rpmemd and the rpmem CLI ====');
  step('nodes healthy (deploy/healthcheck.js in each container)', () => {
    waitHealthy(NODES);
  });

  step("the image's /etc/rpmem/rpmemd.conf asks for TLS: without a certificate mounted, rpmemd --check-config exits 2 naming it", () => {
    const out = compose(
      ['exec', '-T', 'node1', 'node', 'dist/src/target/main.js', '--config', '/etc/rpmem/rpmemd.conf', '--check-config'],
      { check: false },
    );
    assert(
      out.code === 2 && out.stderr.includes('"tls-cert"') && out.stderr.includes('/etc/rpmem/tls/server.crt'),
      `exit ${out.code}: ${out.stderr}`,
    );
    return out.stderr.trim();
  });

  if (run('sh', ['-c', 'command -v openssl'], { check: false }).code !== 0) {
    skip('rpmemd with that config and a TLS certificate: HEALTHCHECK passes over TLS', 'no openssl on the host');
  } else {
    step('rpmemd with that config and a TLS certificate: --check-config passes, HEALTHCHECK passes over TLS', () => {
      const { cert, key } = selfSignedCert();
      const out = compose(['exec', '-T', '-e', `PROBE_CERT=${cert}`, '-e', `PROBE_KEY=${key}`, 'node1', 'node', '-e', TLS_PROBE]);
      const r = JSON.parse(out.stdout.trim().split('\n').pop());
      assert(r.config.insecure === false && /server\.crt$/.test(r.config['tls-cert'] ?? ''), `--check-config: ${JSON.stringify(r.config)}`);
      assert(r.health === 0, `healthcheck exit ${r.health}; rpmemd said "${r.listening}"; ${r.stderr}`);
      return `pool-dir ${r.config['pool-dir']}, tls-cert ${r.config['tls-cert']}; ${r.listening}; healthcheck exit 0`;
    });
  }

  step(`create pool "${DRILL_POOL}" (1 MiB) on each node and persist 64 KiB at offset ${PATTERN_OFFSET}`, () => {
    const data = pattern(PATTERN_BYTES);
    const seqs = [];
    for (const node of NODES) {
      rpmem(['create', '--target', `${node}:7420`, '--size', '1M', '--json', DRILL_POOL]);
      const w = JSON.parse(
        rpmem(['write', '--target', `${node}:7420`, '--offset', String(PATTERN_OFFSET), '--json', DRILL_POOL], {
          input: data,
        }).stdout.trim(),
      );
      seqs.push(`${node} seq ${w.seq} (${w.granularity})`);
    }
    return `${seqs.join(', ')}; data-area sha256 ${checkDigests(NODES, false)}… on all three`;
  });

  step('stop -t 5 node2: rpmemd exits 0 on SIGTERM (through init), before the SIGKILL at 5 s', () => {
    const t = Date.now();
    compose(['stop', '-t', '5', 'node2']);
    const ms = Date.now() - t;
    const s = state('node2');
    // Killed at the timeout it would be 137 (SIGKILL); 0 means rpmemd shut down on the SIGTERM.
    assert(s.status === 'exited' && s.exitCode === 0, `node2 is ${s.status} with exit code ${s.exitCode}, want exited 0`);
    return `exit 0; \`docker-compose stop\` took ${ms} ms`;
  });

  step('node1 and node3 keep serving while node2 is down; a call to node2 fails with exit 1', () => {
    for (const node of ['node1', 'node3']) {
      const info = JSON.parse(rpmem(['info', '--target', `${node}:7420`, '--json', DRILL_POOL]).stdout.trim());
      assert(String(info.durableSeq) === '1', `${node}: durableSeq ${info.durableSeq}, want 1`);
    }
    const down = rpmem(['info', '--target', 'node2:7420', DRILL_POOL], { check: false, timeoutMs: 60_000 });
    assert(down.code === 1, `info on node2 exited ${down.code}, want 1: ${down.stderr.trim()}`);
    return `node2: ${down.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('rpmem:'))
      .join(' ')} (${down.ms} ms)`;
  });

  step('start node2: healthy again, pool data intact', () => {
    compose(['start', 'node2']);
    waitHealthy(['node2']);
    const got = readBackSha('node2', PATTERN_OFFSET, PATTERN_BYTES);
    assert(
      got.bytes === PATTERN_BYTES && got.sha256 === sha256(pattern(PATTERN_BYTES)),
      `node2: read back ${JSON.stringify(got)}, not what was persisted`,
    );
    return `read back 64 KiB identical; sha256 ${checkDigests(['node2'], false)}…`;
  });

  step('kill node3 (SIGKILL): exit 137', () => {
    compose(['kill', 'node3']);
    const s = waitFor(
      'node3 exited',
      () => {
        const st = state('node3');
        return { ok: st.status === 'exited', value: st, seen: JSON.stringify(st) };
      },
      { timeoutMs: 15_000 },
    );
    assert(s.exitCode === 137, `node3 exit code ${s.exitCode}, want 137`);
  });

  step('start node3: healthy, acked data intact, seq continues after the durable seq', () => {
    compose(['start', 'node3']);
    waitHealthy(['node3']);
    const info = JSON.parse(rpmem(['info', '--target', 'node3:7420', '--json', DRILL_POOL]).stdout.trim());
    assert(String(info.durableSeq) === '1', `node3: durableSeq ${info.durableSeq} after restart, want 1`);
    const got = readBackSha('node3', PATTERN_OFFSET, PATTERN_BYTES);
    assert(
      got.bytes === PATTERN_BYTES && got.sha256 === sha256(pattern(PATTERN_BYTES)),
      `node3: read back ${JSON.stringify(got)}, not what was persisted`,
    );
    const w = JSON.parse(
      rpmem(['write', '--target', 'node3:7420', '--offset', String(SECOND_OFFSET), '--json', DRILL_POOL], { input: SECOND }).stdout.trim(),
    );
    assert(String(w.seq) === '2', `node3: write after restart got seq ${w.seq}, want 2`);
    return `durableSeq 1 after SIGKILL, next write seq 2; sha256 ${checkDigests(['node3'], true)}…`;
  });

  step(`remove pool "${DRILL_POOL}" on each node`, () => {
    for (const node of NODES) rpmem(['remove', '--target', `${node}:7420`, DRILL_POOL]);
  });
}

// ---- replicated drill: the demo initiator (needs dist/src/demo/replicated.js) -------------------

/** capabilities -- what the image has: the demo initiator, `rpmem verify`, `rpmem promote`. */
function capabilities() {
  const script = `
    const fs = require('fs');
    const { spawnSync } = require('child_process');
    const help = spawnSync('node', ['dist/src/cli/main.js', '--help'], { encoding: 'utf8' }).stdout || '';
    console.log(JSON.stringify({
      replicated: fs.existsSync('dist/src/demo/replicated.js'),
      verify: /^\\s*verify\\b/m.test(help),
      promote: /^\\s*promote\\b/m.test(help),
    }));`;
  const out = compose(['run', '--rm', '--no-deps', '-T', 'initiator', 'node', '-e', script]);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

/** Reads the initiator's JSON lines (stdout) so far. Non-JSON lines are ignored. */
function initiatorRecords() {
  return recordsOf(containerId('initiator'));
}

/** recordsOf -- the JSON lines a container printed on stdout so far. */
function recordsOf(id) {
  const out = podman(['logs', id], { timeoutMs: 30_000 });
  const records = [];
  for (const line of out.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line));
    } catch {
      // a line cut by the log reader; the next read has it whole
    }
  }
  return records;
}

const statuses = (records) => records.filter((r) => r.type === 'status');
const lastStatus = (records) => statuses(records).pop();
const brief = (s) =>
  s
    ? JSON.stringify({
        role: s.role,
        epoch: s.epoch,
        acked: s.acked,
        ackedFrom: s.ackedFrom,
        ackedThrough: s.ackedThrough,
        waits: s.waits,
        degraded: s.degraded,
        replicas: s.replicas,
      })
    : 'no status line';

/** waitEvent -- an event record named `event` (for `replica` when given) after record index `mark`. */
function waitEvent(mark, event, replica, timeoutMs = EVENT_TIMEOUT_MS) {
  return waitFor(
    `initiator event "${event}"${replica ? ` for ${replica}` : ''}`,
    () => {
      const records = initiatorRecords();
      const hit = records.slice(mark).find((r) => r.type === 'event' && r.event === event && (!replica || r.replica === replica));
      return { ok: hit !== undefined, value: hit, seen: brief(lastStatus(records)) };
    },
    { timeoutMs },
  );
}

/** waitStatus -- a status record after index `mark` for which pred holds (in `source`'s records). */
function waitStatus(mark, what, pred, timeoutMs = EVENT_TIMEOUT_MS, source = initiatorRecords) {
  return waitFor(
    `status: ${what}`,
    () => {
      const records = source();
      const hit = statuses(records.slice(mark)).find(pred);
      return { ok: hit !== undefined, value: hit, seen: brief(lastStatus(records)) };
    },
    { timeoutMs },
  );
}

const allUpOf = (replicas) => (s) => replicas.every((r) => s.replicas?.[r] === 'up') && s.degraded === false;
const allUp = allUpOf(REPLICAS);

/** waitLine -- the first record of `type` after index `mark` in `source`'s records for which pred holds. */
function waitLine(source, mark, what, pred, timeoutMs = EVENT_TIMEOUT_MS) {
  return waitFor(
    what,
    () => {
      const records = source();
      const hit = records.slice(mark).find(pred);
      return { ok: hit !== undefined, value: hit, seen: brief(lastStatus(records)) };
    },
    { timeoutMs },
  );
}

/**
 * checkRecords -- every record from..through on every replica in `replicas`, as the primary of
 * `epoch` wrote it (src/demo/check-records.js, reading the replicas read-only from a throwaway
 * container). Throws naming what is missing.
 */
function checkRecords(replicas, from, through, epoch) {
  const args = [
    'run',
    '--rm',
    '--no-deps',
    '-T',
    'initiator',
    'node',
    'dist/src/demo/check-records.js',
    '--from',
    String(from),
    '--through',
    String(through),
    '--epoch',
    String(epoch),
    ...replicas,
  ];
  const out = compose(args, { check: false });
  const report = JSON.parse(out.stdout.trim().split('\n').pop() || '{}');
  assert(out.code === 0 && Array.isArray(report.replicas), `check-records exited ${out.code}: ${out.stdout.trim()} ${out.stderr.trim()}`);
  return `records ${from}..${through} of epoch ${epoch} intact on ${report.replicas.length} replicas`;
}

/** degradedWhile -- after taking `replica` away: replica-down, degraded, and persists still growing. */
function degradedWhile(mark, replica) {
  const down = waitEvent(mark, 'replica-down', replica);
  const s1 = waitStatus(mark, `degraded with ${replica} not up`, (s) => s.degraded === true && s.replicas?.[replica] !== 'up');
  const s2 = waitStatus(
    mark,
    `${MIN_NEW_ACKS} more records acknowledged in order past ${s1.ackedThrough} while degraded`,
    (s) => s.degraded === true && s.ackedThrough >= s1.ackedThrough + MIN_NEW_ACKS,
    30_000,
  );
  const degradedEvent = initiatorRecords()
    .slice(mark)
    .some((r) => r.type === 'event' && r.event === 'degraded');
  return (
    `replica-down (${JSON.stringify(down)}); degraded, ${replica} "${s1.replicas[replica]}"; ` +
    `acked through ${s1.ackedThrough} -> ${s2.ackedThrough}; "degraded" event: ${degradedEvent}`
  );
}

/** resyncedAfter -- after bringing `replica` back: resync-done, replica-up, every replica up, not degraded. */
function resyncedAfter(mark, replica) {
  const done = waitEvent(mark, 'resync-done', replica, RESYNC_TIMEOUT_MS);
  waitEvent(mark, 'replica-up', replica);
  const s = waitStatus(mark, 'all replicas up, not degraded', allUp);
  const progress = initiatorRecords()
    .slice(mark)
    .filter((r) => r.type === 'event' && r.event === 'resync-progress' && r.replica === replica).length;
  return `resync-done (${JSON.stringify(done)}), ${progress} resync-progress events; all up at acked through ${s.ackedThrough}`;
}

function replicatedDrill() {
  say('==== replicated drill: the demo initiator, ack=majority ====');
  let caps;
  step('image capabilities (replicated.js, rpmem verify, rpmem promote)', () => {
    caps = capabilities();
    return JSON.stringify(caps);
  });
  const names = [
    `initiator up: every replica up, ${MIN_NEW_ACKS} records acknowledged`,
    `stop -t 5 node2: replica-down, degraded, ${MIN_NEW_ACKS} more records acknowledged`,
    'start node2: resync-done, replica-up, all up',
    `kill node3 (SIGKILL): replica-down, degraded, ${MIN_NEW_ACKS} more records acknowledged`,
    'start node3: resync-done, replica-up, all up',
    'stop the initiator (SIGTERM): drains, closes, exits 0',
    'data-area sha256 of the primary and the three replicas are equal (pool-digest.js)',
  ];
  if (!caps.replicated) {
    for (const name of [...names, 'rpmem verify', 'rpmem promote', 'old primary fenced', 'promoted pool is the new primary']) {
      skip(name, 'dist/src/demo/replicated.js is not in the image yet');
    }
    return;
  }

  step(names[0], () => {
    waitHealthy(NODES); // the status depends_on reads
    // --no-recreate: never replace the nodes here (a changed config would, and they would then wait for a
    // health status that nothing updates without systemd).
    compose(['up', '-d', '--no-build', '--no-recreate', 'initiator'], { timeoutMs: 120_000 });
    const s = waitStatus(
      0,
      `every replica up and ${MIN_NEW_ACKS} records acknowledged`,
      (st) => allUp(st) && st.ackedThrough >= MIN_NEW_ACKS,
      90_000,
    );
    return brief(s);
  });

  step(names[1], () => {
    const mark = initiatorRecords().length;
    compose(['stop', '-t', '5', 'node2']);
    return degradedWhile(mark, REPLICAS[1]);
  });

  step(names[2], () => {
    const mark = initiatorRecords().length;
    compose(['start', 'node2']);
    waitHealthy(['node2']);
    return resyncedAfter(mark, REPLICAS[1]);
  });

  step(names[3], () => {
    const mark = initiatorRecords().length;
    compose(['kill', 'node3']);
    return degradedWhile(mark, REPLICAS[2]);
  });

  step(names[4], () => {
    const mark = initiatorRecords().length;
    compose(['start', 'node3']);
    waitHealthy(['node3']);
    return resyncedAfter(mark, REPLICAS[2]);
  });

  step(names[5], () => {
    const t = Date.now();
    compose(['stop', '-t', '30', 'initiator'], { timeoutMs: 60_000 });
    const ms = Date.now() - t;
    const s = state('initiator');
    assert(s.status === 'exited' && s.exitCode === 0, `initiator is ${s.status} with exit code ${s.exitCode}, want exited 0`);
    return `stopped in ${ms} ms, exit 0; last status ${brief(lastStatus(initiatorRecords()))}`;
  });

  if (caps.verify) {
    step('rpmem verify: primary and replicas byte-identical', () => {
      const args = ['verify', '--pool', PRIMARY_POOL, ...REPLICAS.flatMap((r) => ['--replica', r]), '--json'];
      const out = rpmem(args, { check: false });
      const report = JSON.parse(out.stdout.trim().split('\n').pop());
      assert(out.code === 0 && report.identical === true, `verify exited ${out.code}: ${out.stdout.trim()} ${out.stderr.trim()}`);
      return JSON.stringify(report);
    });
  } else {
    skip('rpmem verify', 'the CLI has no verify command yet');
  }

  let primary;
  step(names[6], () => {
    primary = digest('initiator', PRIMARY_POOL, 'run');
    assert(primary.dataBytes === DEMO_POOL_BYTES, `primary data area ${primary.dataBytes} bytes, want ${DEMO_POOL_BYTES}`);
    for (const node of NODES) {
      const d = digest(node, '/var/lib/rpmem/demo');
      assert(d.dataBytes === primary.dataBytes, `${node}: data area ${d.dataBytes} bytes, primary ${primary.dataBytes}`);
      assert(d.sha256 === primary.sha256, `${node}: data-area sha256 ${d.sha256}, primary ${primary.sha256}`);
    }
    return `${primary.sha256} on all four`;
  });

  if (caps.promote) {
    let acked;
    step('rpmem promote: a new primary from the replicas equals the old one', () => {
      const args = ['promote', '--pool', PROMOTED_POOL, ...REPLICAS.flatMap((r) => ['--replica', r]), '--json'];
      const out = rpmem(args, { check: false });
      assert(out.code === 0, `promote exited ${out.code}: ${out.stdout.trim()} ${out.stderr.trim()}`);
      const d = digest('initiator', PROMOTED_POOL, 'run');
      assert(d.sha256 === primary.sha256, `promoted data-area sha256 ${d.sha256}, primary ${primary.sha256}`);
      return `${out.stdout.trim().split('\n').pop()}; data-area sha256 equal`;
    });

    step('every record the old primary acknowledged is on every replica, as it wrote it', () => {
      acked = initiatorRecords()
        .filter((r) => r.type === 'stopped')
        .pop();
      assert(acked !== undefined && acked.ackedThrough >= MIN_NEW_ACKS, `the old primary's stop line: ${JSON.stringify(acked)}`);
      return checkRecords(REPLICAS, acked.ackedFrom, acked.ackedThrough, acked.epoch);
    });

    step('the old primary is fenced: the initiator restarted on its old pool exits 1 with RPMEM_E_FENCED', () => {
      const mark = initiatorRecords().length;
      compose(['start', 'initiator']);
      const s = waitFor(
        'the old initiator to exit',
        () => {
          const st = state('initiator');
          return { ok: st.status === 'exited', value: st, seen: JSON.stringify(st) };
        },
        { timeoutMs: 90_000, pollMs: 1000 },
      );
      const records = initiatorRecords().slice(mark);
      const error = records.find((r) => r.type === 'error');
      assert(s.exitCode === 1, `old initiator exit code ${s.exitCode}, want 1; records: ${JSON.stringify(records.slice(-5))}`);
      assert(
        error !== undefined && /RPMEM_E_FENCED/.test(error.error),
        `no RPMEM_E_FENCED error line: ${JSON.stringify(records.slice(-5))}`,
      );
      const statuses = records.filter((r) => r.type === 'status' && r.acked > 0).length;
      assert(statuses === 0, 'the fenced initiator reported acknowledged records');
      return error.error;
    });

    step(
      `the promoted pool is the new primary: every replica up, ${MIN_NEW_ACKS} new records acknowledged after the old ones, exits 0 on SIGTERM, verify identical`,
      () => {
        const run1 = compose(['run', '-d', '--no-deps', '-e', `RPMEM_POOL=${PROMOTED_POOL}`, 'initiator']);
        const id = run1.stdout.trim().split('\n').pop();
        try {
          const source = () => recordsOf(id);
          const primary = waitLine(source, 0, 'the new primary\'s "primary" line', (r) => r.type === 'primary', 90_000);
          assert(
            primary.first > acked.ackedThrough,
            `the new primary continues at record ${primary.first}, but the old one acknowledged through ${acked.ackedThrough}`,
          );
          assert(BigInt(primary.epoch) > BigInt(acked.epoch), `new primary's epoch ${primary.epoch}, old ${acked.epoch}`);
          const st = waitStatus(
            0,
            `new primary: every replica up and ${MIN_NEW_ACKS} records acknowledged from ${primary.first}`,
            (x) => allUp(x) && x.ackedFrom === primary.first && x.ackedThrough >= primary.first - 1 + MIN_NEW_ACKS,
            90_000,
            source,
          );
          podman(['stop', '-t', '30', id], { timeoutMs: 60_000 });
          const exit = podman(['inspect', '--format', '{{.State.ExitCode}}', id]).stdout.trim();
          assert(exit === '0', `new primary exit code ${exit}, want 0`);
          const args = ['verify', '--pool', PROMOTED_POOL, ...REPLICAS.flatMap((r) => ['--replica', r]), '--json'];
          const out = rpmem(args, { check: false });
          const report = JSON.parse(out.stdout.trim().split('\n').pop());
          assert(out.code === 0 && report.identical === true, `verify exited ${out.code}: ${out.stdout.trim()} ${out.stderr.trim()}`);
          return `epoch ${primary.epoch}, continues at ${primary.first}; ${brief(st)}; exit 0; verify identical`;
        } finally {
          podman(['rm', '-f', '-v', '-t', '0', id], { check: false, timeoutMs: 60_000 });
        }
      },
    );
  } else {
    skip('rpmem promote', 'the CLI has no promote command yet');
  }
}

// ---- automatic drill: etcd and two FailoverCandidates (candidate1, candidate2) ------------------

const AUTO_POOL = 'auto';
const AUTO_REPLICAS = NODES.map((n) => `${n}:7420/${AUTO_POOL}`);
const allUpAuto = allUpOf(AUTO_REPLICAS);
const candidateRecords = (service) => () => recordsOf(containerId(service));

/** GET /health of the etcd service from a container on the cluster network (IPv4: see CONTAINERS.md). */
const ETCD_HEALTH = `
  const req = require('http').get({ host: 'etcd', port: 2379, path: '/health', family: 4, timeout: 3000 }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => { console.log(body.trim()); process.exit(/"health":\\s*"true"/.test(body) ? 0 : 1); });
  });
  req.on('timeout', () => req.destroy(new Error('timed out')));
  req.on('error', (e) => { console.log(e.message); process.exit(1); });`;

/** The primary line a candidate prints once elected, after index `mark`. */
function waitElected(service, mark, timeoutMs = TAKEOVER_TIMEOUT_MS) {
  return waitLine(candidateRecords(service), mark, `${service} elected`, (r) => r.type === 'primary' || r.type === 'error', timeoutMs);
}

/** A status line of `service` after `mark`: primary at `primary.epoch`, all replicas up, MIN_NEW_ACKS records acknowledged from `primary.first`. */
function waitServing(service, mark, primary, timeoutMs = 90_000) {
  return waitStatus(
    mark,
    `${service} primary at epoch ${primary.epoch}, all replicas up, ${MIN_NEW_ACKS} records acknowledged from ${primary.first}`,
    (s) =>
      s.role === 'primary' &&
      s.epoch === primary.epoch &&
      allUpAuto(s) &&
      s.ackedFrom === primary.first &&
      s.ackedThrough >= primary.first - 1 + MIN_NEW_ACKS,
    timeoutMs,
    candidateRecords(service),
  );
}

function automaticDrill() {
  say('==== automatic drill: etcd and two candidates (FailoverCandidate), ack=majority ====');
  let caps;
  step('image capabilities (FailoverCandidate, check-records.js)', () => {
    const script = `const fs = require('fs'); console.log(JSON.stringify({
      candidate: fs.existsSync('dist/src/initiator/failover/failover-candidate.js'),
      checkRecords: fs.existsSync('dist/src/demo/check-records.js') }));`;
    caps = JSON.parse(compose(['run', '--rm', '--no-deps', '-T', 'initiator', 'node', '-e', script]).stdout.trim().split('\n').pop());
    return JSON.stringify(caps);
  });
  if (!caps.candidate || !caps.checkRecords) {
    skip('automatic failover through etcd', `the image lacks ${!caps.candidate ? 'FailoverCandidate' : 'check-records.js'}`);
    return;
  }

  step(`create pool "${AUTO_POOL}" (16 MiB) on each node: a candidate promotes from the replicas`, () => {
    waitHealthy(NODES);
    for (const node of NODES) rpmem(['create', '--target', `${node}:7420`, '--size', '16M', AUTO_POOL]);
  });

  step('etcd up and serving (GET /health from the cluster network)', () => {
    compose(['up', '-d', '--no-build', '--no-recreate', '--no-deps', 'etcd']);
    return waitFor(
      'etcd /health',
      () => {
        const r = compose(['run', '--rm', '--no-deps', '-T', 'initiator', 'node', '-e', ETCD_HEALTH], { check: false, timeoutMs: 30_000 });
        return { ok: r.code === 0, value: r.stdout.trim(), seen: `${r.stdout.trim()} ${r.stderr.trim()}` };
      },
      { timeoutMs: 60_000, pollMs: 1000 },
    );
  });

  // The nodes and etcd are up; --no-deps because podman records no health status without systemd.
  let primary1;
  step(`candidate1 up: elected, promotes, ${MIN_NEW_ACKS} records acknowledged with every replica up`, () => {
    compose(['up', '-d', '--no-build', '--no-recreate', '--no-deps', 'candidate1'], { timeoutMs: 120_000 });
    primary1 = waitElected('candidate1', 0, 90_000);
    assert(primary1.type === 'primary', `candidate1: ${JSON.stringify(primary1)}`);
    const s = waitServing('candidate1', 0, primary1);
    return `epoch ${primary1.epoch} (${primary1.how}), first record ${primary1.first}; ${brief(s)}`;
  });

  step('candidate2 up: stands by with candidate1 as leader; candidate1 keeps acknowledging', () => {
    const markA = candidateRecords('candidate1')().length;
    const before = lastStatus(candidateRecords('candidate1')());
    compose(['up', '-d', '--no-build', '--no-recreate', '--no-deps', 'candidate2'], { timeoutMs: 120_000 });
    const standby = waitLine(
      candidateRecords('candidate2'),
      0,
      'candidate2 standby',
      (r) => r.type === 'standby' || r.type === 'error' || r.type === 'primary',
      60_000,
    );
    assert(standby.type === 'standby' && standby.leader === 'candidate1', `candidate2: ${JSON.stringify(standby)}`);
    const s = waitStatus(
      markA,
      `candidate1 acknowledging past ${before.ackedThrough}`,
      (x) => x.role === 'primary' && x.ackedThrough >= before.ackedThrough + MIN_NEW_ACKS,
      30_000,
      candidateRecords('candidate1'),
    );
    return `standby, leader ${standby.leader}; candidate1 acked through ${before.ackedThrough} -> ${s.ackedThrough}`;
  });

  let old;
  let primary2;
  let lastPrimary;
  step(
    'kill candidate1 (SIGKILL): candidate2 is elected by itself, continues after every record candidate1 acknowledged, acknowledges new ones',
    () => {
      const markB = candidateRecords('candidate2')().length;
      compose(['kill', 'candidate1']);
      const killedAt = Date.now();
      const st = waitFor(
        'candidate1 exited',
        () => {
          const x = state('candidate1');
          return { ok: x.status === 'exited', value: x, seen: JSON.stringify(x) };
        },
        { timeoutMs: 15_000 },
      );
      assert(st.exitCode === 137, `candidate1 exit code ${st.exitCode}, want 137`);
      // The last status line candidate1 logged: every record up to ackedThrough had been acknowledged.
      old = lastStatus(candidateRecords('candidate1')());
      assert(old.role === 'primary' && old.epoch === primary1.epoch, `candidate1's last status: ${brief(old)}`);
      primary2 = waitElected('candidate2', markB);
      assert(primary2.type === 'primary', `candidate2: ${JSON.stringify(primary2)}`);
      const electedMs = Date.parse(primary2.time) - killedAt;
      assert(BigInt(primary2.epoch) > BigInt(old.epoch), `candidate2's epoch ${primary2.epoch} is not above candidate1's ${old.epoch}`);
      assert(
        primary2.first > old.ackedThrough,
        `candidate2 continues at record ${primary2.first}, but candidate1 acknowledged through ${old.ackedThrough}`,
      );
      const s = waitServing('candidate2', markB, primary2);
      return (
        `candidate1 had acknowledged 1..${old.ackedThrough} at epoch ${old.epoch}; candidate2 elected ${electedMs} ms after the SIGKILL ` +
        `(TTL ${CANDIDATE_TTL_MS} ms), epoch ${primary2.epoch}, from ${primary2.promotion?.source} at lsn ${primary2.promotion?.sourceLsn}; ` +
        `first ack run ${brief(s)} at +${Date.parse(s.time) - killedAt} ms`
      );
    },
  );

  step('every record candidate1 acknowledged is on every replica, as it wrote it', () =>
    checkRecords(AUTO_REPLICAS, old.ackedFrom, old.ackedThrough, old.epoch),
  );

  step('start candidate1: rejoins as a standby of candidate2 and acknowledges nothing; candidate2 keeps acknowledging', () => {
    const markA = candidateRecords('candidate1')().length;
    const markB = candidateRecords('candidate2')().length;
    const before = lastStatus(candidateRecords('candidate2')());
    compose(['start', 'candidate1']);
    const standby = waitLine(
      candidateRecords('candidate1'),
      markA,
      'candidate1 standby',
      (r) => r.type === 'standby' || r.type === 'primary' || r.type === 'error',
      60_000,
    );
    assert(standby.type === 'standby' && standby.leader === 'candidate2', `candidate1 after restart: ${JSON.stringify(standby)}`);
    const s = waitStatus(
      markB,
      `candidate2 acknowledging past ${before.ackedThrough}`,
      (x) => x.role === 'primary' && x.ackedThrough >= before.ackedThrough + MIN_NEW_ACKS,
      30_000,
      candidateRecords('candidate2'),
    );
    // Alive and reporting meanwhile (so "no acks" below is about a running candidate): 8 status lines are 2 s.
    waitFor(
      'candidate1 reporting as a standby (8 status lines)',
      () => {
        const lines = statuses(candidateRecords('candidate1')().slice(markA)).length;
        return { ok: lines >= 8, seen: `${lines} status lines` };
      },
      { timeoutMs: 30_000 },
    );
    const after = candidateRecords('candidate1')().slice(markA);
    const acking = after.filter((r) => r.type === 'primary' || (r.type === 'status' && (r.role !== 'standby' || r.acked !== 0)));
    assert(acking.length === 0, `candidate1 took the role or acknowledged while candidate2 led: ${JSON.stringify(acking.slice(0, 3))}`);
    return `standby, leader ${standby.leader}; ${after.filter((r) => r.type === 'status').length} standby status lines, no acks; candidate2 acked through ${before.ackedThrough} -> ${s.ackedThrough}`;
  });

  step(
    'stop candidate2 (SIGTERM): exits 0 leaving the group; candidate1 is elected, continues after every record candidate2 acknowledged',
    () => {
      const markA = candidateRecords('candidate1')().length;
      const markB = candidateRecords('candidate2')().length;
      const t = Date.now();
      compose(['stop', '-t', '30', 'candidate2'], { timeoutMs: 60_000 });
      const st = state('candidate2');
      assert(st.status === 'exited' && st.exitCode === 0, `candidate2 is ${st.status} with exit code ${st.exitCode}, want exited 0`);
      const stopped = candidateRecords('candidate2')()
        .slice(markB)
        .find((r) => r.type === 'stopped');
      assert(stopped !== undefined && stopped.epoch === primary2.epoch, `candidate2's stop line: ${JSON.stringify(stopped)}`);
      const primary = waitElected('candidate1', markA);
      assert(primary.type === 'primary', `candidate1: ${JSON.stringify(primary)}`);
      lastPrimary = primary;
      assert(
        BigInt(primary.epoch) > BigInt(stopped.epoch),
        `candidate1's epoch ${primary.epoch} is not above candidate2's ${stopped.epoch}`,
      );
      assert(
        primary.first > stopped.ackedThrough,
        `candidate1 continues at record ${primary.first}, but candidate2 acknowledged through ${stopped.ackedThrough}`,
      );
      const s = waitServing('candidate1', markA, primary);
      const check = checkRecords(AUTO_REPLICAS, stopped.ackedFrom, stopped.ackedThrough, stopped.epoch);
      return `candidate2 acknowledged ${stopped.ackedFrom}..${stopped.ackedThrough}; candidate1 elected ${Date.parse(primary.time) - t} ms after the stop began, epoch ${primary.epoch}; ${brief(s)}; ${check}`;
    },
  );

  step('rpmem status --etcd: candidate1 is the primary of group auto at its epoch, every replica at that epoch', () => {
    const st = clusterStatus();
    assert(
      st.code === 0 && st.report.leader === 'candidate1' && st.report.epoch === lastPrimary.epoch,
      `status --etcd exited ${st.code}: ${JSON.stringify(st.report)}; want leader candidate1 at epoch ${lastPrimary.epoch}`,
    );
    return `leader ${st.report.leader}, epoch ${st.report.epoch}, lease ${st.report.leaseTtlSeconds} s left, replicas ${st.report.replicas.map((r) => `${r.replica}@${r.epoch}`).join(' ')}`;
  });

  let lastTerm;
  step('stop candidate1 (SIGTERM): exit 0, its stop line gives the records it acknowledged', () => {
    const mark = candidateRecords('candidate1')().length;
    compose(['stop', '-t', '30', 'candidate1'], { timeoutMs: 60_000 });
    const c = state('candidate1');
    assert(c.status === 'exited' && c.exitCode === 0, `candidate1 is ${c.status} with exit code ${c.exitCode}`);
    lastTerm = candidateRecords('candidate1')()
      .slice(mark)
      .find((r) => r.type === 'stopped');
    assert(
      lastTerm !== undefined && lastTerm.epoch === lastPrimary.epoch && lastTerm.ackedThrough >= lastTerm.ackedFrom - 1 + MIN_NEW_ACKS,
      `candidate1's stop line: ${JSON.stringify(lastTerm)}`,
    );
    return `acknowledged ${lastTerm.ackedFrom}..${lastTerm.ackedThrough} at epoch ${lastTerm.epoch}`;
  });

  agentDrill(lastTerm);

  step('stop etcd', () => {
    compose(['stop', '-t', '10', 'etcd'], { timeoutMs: 60_000 });
  });
}

/** clusterStatus -- `rpmem status --etcd http://etcd:2379 --group auto --json` from a throwaway container: {code, report}. */
function clusterStatus() {
  const out = rpmem(['status', '--etcd', 'http://etcd:2379', '--group', AUTO_POOL, '--json'], { check: false, timeoutMs: 60_000 });
  let report;
  try {
    report = JSON.parse(out.stdout.trim().split('\n').pop());
  } catch {
    throw new DrillError(`status --etcd exited ${out.code} without JSON: ${out.stdout.trim()} ${out.stderr.trim()}`);
  }
  return { code: out.code, report };
}

/**
 * agentDrill -- the same group run by `rpmem failover-agent` (the daemon form, for applications that
 * do not embed FailoverCandidate), configured by a YAML file of its keys, in the candidates'
 * containers and volumes. The agent holds the pool as primary and writes nothing, so this part checks
 * election, takeover and rejoin, and that the agents' promotions keep every record the last
 * embedded primary acknowledged (`term`); the acks of a new primary are checked above.
 */
function agentDrill(term) {
  // Under run.sh's WORK, which its teardown removes even when a failed step ends the drill at once.
  const dir = fs.mkdtempSync(`${process.env.WORK || '/tmp'}/drill-agent-`);
  const agents = new Map();
  const agentRecords = (name) => () => recordsOf(agents.get(name));
  const waitAgentEvent = (name, mark, events, timeoutMs) =>
    waitFor(
      `${name}: ${events.join(' or ')}`,
      () => {
        const hit = agentRecords(name)()
          .slice(mark)
          .find((r) => events.includes(r.event) || r.type === 'error');
        return { ok: hit !== undefined, value: hit, seen: JSON.stringify(agentRecords(name)().slice(-2)) };
      },
      { timeoutMs },
    );
  const startAgent = (name, service) => {
    const file = `${dir}/${name}.conf`;
    fs.writeFileSync(
      file,
      [
        '# written by test/compose/drill.js: the keys of deploy/failover-agent.conf',
        'etcd:',
        '  - http://etcd:2379',
        `group: ${AUTO_POOL}`,
        `member: ${name}`,
        `pool: /var/lib/rpmem-initiator/${AUTO_POOL}.pool`,
        'replica:',
        ...AUTO_REPLICAS.map((r) => `  - ${r}`),
        'ack: majority',
        `ttl: ${CANDIDATE_TTL_MS / 1000}`,
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    const out = compose([
      'run',
      '-d',
      '--no-deps',
      '-v',
      `${file}:/etc/rpmem/failover-agent.conf:ro`,
      service,
      ...CLI,
      'failover-agent',
      '--config',
      '/etc/rpmem/failover-agent.conf',
    ]);
    agents.set(name, out.stdout.trim().split('\n').pop());
  };
  try {
    let epoch1;
    step("failover-agent agent1 (YAML config) in candidate1's container: elected at a higher epoch", () => {
      startAgent('agent1', 'candidate1');
      const e = waitAgentEvent('agent1', 0, ['elected'], 90_000);
      assert(
        e.event === 'elected' && BigInt(e.epoch) > BigInt(term.epoch),
        `agent1: ${JSON.stringify(e)}; want elected above epoch ${term.epoch}`,
      );
      epoch1 = e.epoch;
      return `elected at epoch ${e.epoch} from ${e.source}, ${e.bytesCopied} bytes copied`;
    });

    step("failover-agent agent2 in candidate2's container: stands by with agent1 as leader", () => {
      startAgent('agent2', 'candidate2');
      const e = waitAgentEvent('agent2', 0, ['standby', 'elected'], 60_000);
      assert(e.event === 'standby' && e.leader === 'agent1', `agent2: ${JSON.stringify(e)}`);
      const st = clusterStatus();
      assert(
        st.code === 0 && st.report.leader === 'agent1' && st.report.standbys.includes('agent2'),
        `status --etcd: exit ${st.code} ${JSON.stringify(st.report)}`,
      );
      return `standby; status --etcd: leader agent1, standbys ${st.report.standbys.join(',')}`;
    });

    step("kill agent1's container (SIGKILL): agent2 is elected by itself; every record candidate1 acknowledged is on every replica", () => {
      const mark = agentRecords('agent2')().length;
      podman(['kill', '-s', 'KILL', agents.get('agent1')]);
      const killedAt = Date.now();
      const e = waitAgentEvent('agent2', mark, ['elected'], TAKEOVER_TIMEOUT_MS);
      assert(e.event === 'elected' && BigInt(e.epoch) > BigInt(epoch1), `agent2: ${JSON.stringify(e)}; want elected above epoch ${epoch1}`);
      const st = waitFor(
        'status --etcd: agent2 primary, healthy',
        () => {
          const x = clusterStatus();
          return {
            ok: x.code === 0 && x.report.leader === 'agent2' && x.report.epoch === e.epoch,
            value: x,
            seen: JSON.stringify(x.report),
          };
        },
        { timeoutMs: 60_000, pollMs: 1000 },
      );
      const check = checkRecords(AUTO_REPLICAS, term.ackedFrom, term.ackedThrough, term.epoch);
      return `agent2 elected ${Date.parse(e.time) - killedAt} ms after the SIGKILL, epoch ${e.epoch} from ${e.source}; status --etcd healthy at epoch ${st.report.epoch}; ${check}`;
    });

    step("restart agent1's container: it rejoins as a standby of agent2", () => {
      const mark = agentRecords('agent1')().length;
      podman(['start', agents.get('agent1')]);
      const e = waitAgentEvent('agent1', mark, ['standby', 'elected'], 60_000);
      assert(e.event === 'standby' && e.leader === 'agent2', `agent1 after restart: ${JSON.stringify(e)}`);
      const st = clusterStatus();
      assert(
        st.code === 0 && st.report.leader === 'agent2' && st.report.standbys.includes('agent1'),
        `status --etcd: exit ${st.code} ${JSON.stringify(st.report)}`,
      );
      return `standby, leader agent2; status --etcd standbys ${st.report.standbys.join(',')}`;
    });

    step('stop both agents (SIGTERM): exit 0', () => {
      for (const name of ['agent2', 'agent1']) {
        podman(['stop', '-t', '30', agents.get(name)], { timeoutMs: 60_000 });
        const code = podman(['inspect', '--format', '{{.State.ExitCode}}', agents.get(name)]).stdout.trim();
        assert(code === '0', `${name} exit code ${code}, want 0`);
      }
    });
  } finally {
    for (const id of agents.values()) podman(['rm', '-f', '-v', '-t', '0', id], { check: false, timeoutMs: 60_000 });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main --------------------------------------------------------------------------------------

if (PARTS.has('target')) targetDrill();
if (PARTS.has('replicated')) replicatedDrill();
if (PARTS.has('automatic')) automaticDrill();
finish();
