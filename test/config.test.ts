/**
 * rpmemd's configuration: flags and the YAML file share keys, flags win, and every bad key or
 * value fails start with a message naming it.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { parseTargetArgs } from '../src/target/config';
import { tempDir } from './helpers/setup';

const RPMEMD = path.join(__dirname, '..', 'src', 'target', 'main.js');

function configError(argv: string[]): RpmemError {
  try {
    parseTargetArgs(argv);
  } catch (err) {
    expect(err).to.be.instanceOf(RpmemError);
    return err as RpmemError;
  }
  throw new Error('expected a config error');
}

describe('rpmemd config', () => {
  it('applies defaults and flags', () => {
    const parsed = parseTargetArgs(['--pool-dir', '/tmp', '--insecure', '--max-range-bytes', '4096', '--granularity', 'page']);
    if (parsed.kind !== 'run') throw new Error('expected run');
    expect(parsed.config.listen).to.equal('127.0.0.1:7420');
    expect(parsed.config.maxRangeBytes).to.equal(4096);
    expect(parsed.config.maxMessageBytes).to.equal(4096 + 1024 * 1024);
    expect(parsed.config.granularity).to.equal('page');
  });

  it('reads the YAML file and lets flags override it', () => {
    const file = path.join(tempDir('config'), 'rpmemd.yaml');
    fs.writeFileSync(file, 'pool-dir: /srv/pools\nlisten: 0.0.0.0:9000\nmax-pool-bytes: 1048576\ninsecure: true\n');
    const parsed = parseTargetArgs(['--config', file, '--listen', '127.0.0.1:9001']);
    if (parsed.kind !== 'run') throw new Error('expected run');
    expect(parsed.config.poolDir).to.equal('/srv/pools');
    expect(parsed.config.listen).to.equal('127.0.0.1:9001');
    expect(parsed.config.maxPoolBytes).to.equal(1048576);
  });

  it('names an unknown key in the file', () => {
    const file = path.join(tempDir('config'), 'bad.yaml');
    fs.writeFileSync(file, 'pool-dir: /tmp\npool-dri: /oops\n');
    const err = configError(['--config', file]);
    expect(err.code).to.equal(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).to.match(/"pool-dri": unknown key/);
  });

  it('names a bad value', () => {
    expect(configError(['--pool-dir', '/tmp', '--insecure', '--granularity', 'byte']).message).to.match(/"granularity"/);
    expect(configError(['--pool-dir', '/tmp', '--insecure', '--max-range-bytes', '12x']).message).to.match(/"max-range-bytes"/);
    expect(configError(['--pool-dir', '/tmp', '--insecure', '--listen', 'nowhere']).message).to.match(/"listen"/);
    expect(configError(['--listen', '127.0.0.1:1']).message).to.match(/"pool-dir": is required/);
    expect(configError(['--bogus']).message).to.match(/bogus/);
  });

  it('rpmemd --help and --version exit 0; a bad flag exits 2 with a one-line error', () => {
    const help = spawnSync(process.execPath, [RPMEMD, '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/--pool-dir DIR/);
    const version = spawnSync(process.execPath, [RPMEMD, '--version'], { encoding: 'utf8' });
    expect(version.stdout).to.match(/^rpmemd \d+\.\d+\.\d+/);
    const bad = spawnSync(process.execPath, [RPMEMD, '--pool-dir', '/nonexistent-dir-rpmem', '--insecure'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
    expect(bad.stderr).to.match(/RPMEM_E_INVALID_ARGUMENT: pool-dir .* is not a directory/);
  });
});

describe('rpmemd --check-config and failed starts', () => {
  const rpmemd = (args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [RPMEMD, ...args], { encoding: 'utf8', timeout: 15_000 });

  it('prints the effective config (file, flags over it, defaults) as JSON and exits 0', () => {
    const dir = tempDir('check-config');
    const file = path.join(dir, 'rpmemd.yaml');
    fs.writeFileSync(file, `pool-dir: ${dir}\ninsecure: true\nlisten: 127.0.0.1:9000\nmetrics: 127.0.0.1:9100\nlog-format: json\n`);
    const r = rpmemd(['--check-config', '--config', file, '--listen', '127.0.0.1:9001']);
    expect(r.status, String(r.stderr)).to.equal(0);
    const effective = JSON.parse(String(r.stdout)) as Record<string, unknown>;
    expect(effective).to.include({
      'pool-dir': dir,
      listen: '127.0.0.1:9001',
      metrics: '127.0.0.1:9100',
      'log-format': 'json',
      'log-level': 'info',
      granularity: 'auto',
      insecure: true,
      'max-range-bytes': 16 * 1024 * 1024,
    });
    expect(Object.keys(effective)).to.include.members(['max-message-bytes', 'open-lease-ms', 'shutdown-grace-ms']);
  });

  it('a bad key or value, or an unreadable TLS or token file, fails start (and --check-config) with exit 2 and one line naming it', () => {
    const dir = tempDir('check-config');
    const badKey = path.join(dir, 'bad-key.yaml');
    fs.writeFileSync(badKey, `pool-dir: ${dir}\ninsecure: true\nmax-range-byte: 4096\n`);
    const badValue = path.join(dir, 'bad-value.yaml');
    fs.writeFileSync(badValue, `pool-dir: ${dir}\ninsecure: true\nlog-level: loud\n`);
    const missing = path.join(dir, 'no-such-file');
    const notPem = path.join(dir, 'not-pem.txt');
    fs.writeFileSync(notPem, 'neither a certificate nor a key\n');
    const cases: Array<[string[], RegExp]> = [
      [['--config', badKey], /^rpmemd: RPMEM_E_INVALID_ARGUMENT: config "max-range-byte": unknown key\n$/],
      [
        ['--config', badValue],
        /^rpmemd: RPMEM_E_INVALID_ARGUMENT: config "log-level": must be one of debug, info, warn, error, silent, got "loud"\n$/,
      ],
      [
        ['--check-config', '--pool-dir', dir, '--insecure', '--metrics', '9100'],
        /^rpmemd: RPMEM_E_INVALID_ARGUMENT: config "metrics": must be HOST:PORT, got "9100"\n$/,
      ],
      [
        ['--check-config', '--pool-dir', dir, '--tls-cert', missing, '--tls-key', missing],
        /^rpmemd: RPMEM_E_INVALID_ARGUMENT: config "tls-cert": cannot read .*\n$/,
      ],
      [
        ['--check-config', '--pool-dir', dir, '--tls-cert', notPem, '--tls-key', notPem],
        /^rpmemd: RPMEM_E_INVALID_ARGUMENT: config "tls-cert", "tls-key", "tls-ca": .*\n$/,
      ],
      [
        ['--check-config', '--pool-dir', dir, '--insecure', '--auth-token-file', missing],
        /^rpmemd: RPMEM_E_INVALID_ARGUMENT: .*no-such-file.*\n$/,
      ],
      [
        ['--check-config', '--pool-dir', dir, '--insecure', '--auth-token-file', notPem],
        /^rpmemd: RPMEM_E_INVALID_ARGUMENT: .*tokens.*\n$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = rpmemd(args);
      expect(r.status, args.join(' ')).to.equal(2);
      expect(String(r.stderr)).to.match(message);
    }
  });

  it('names the new keys when their values are bad', () => {
    const base = ['--pool-dir', '/tmp', '--insecure'];
    expect(configError([...base, '--metrics', '127.0.0.1']).message).to.match(/config "metrics": must be HOST:PORT/);
    expect(configError([...base, '--metrics', 'h:99999']).message).to.match(/config "metrics": must be HOST:PORT/);
    expect(configError([...base, '--log-format', 'xml']).message).to.match(
      /config "log-format": must be one of auto, json, pretty, got "xml"/,
    );
    expect(configError([...base, '--metrcs', 'h:1']).message).to.match(/metrcs/);
    const parsed = parseTargetArgs([...base, '--check-config']);
    expect(parsed.kind).to.equal('check');
    if (parsed.kind === 'check') expect(parsed.config.metrics).to.equal(undefined);
  });
});
