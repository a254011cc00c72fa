/**
 * rpmemd's log: JSON lines with level, time, msg and the bound pool/peer; the human form for
 * terminals; levels; and no token ever reaching the log, even at debug level with failing calls.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { ErrorCode, RpmemError } from '../src/storage/errors';
import { RemotePool } from '../src/initiator/remote-pool';
import { Log } from '../src/target/log';
import { tempDir } from './helpers/setup';
import { TestTarget } from './helpers/test-target';

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (t: string) => (text += t));
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

describe('rpmemd log', () => {
  it('writes one JSON object per line with level, time, msg and the bound pool and peer', () => {
    const out = capture();
    const log = new Log('info', { svc: 'rpmemd' }, { format: 'json', destination: out.stream });
    log
      .child({ peer: 'ipv4:10.0.0.9:5000' })
      .child({ pool: 'db' })
      .warn('persist stream ended with an error', { code: 'RPMEM_E_FENCED', seq: 7n });
    log.debug('not at info level');
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({
      level: 'warn',
      msg: 'persist stream ended with an error',
      svc: 'rpmemd',
      peer: 'ipv4:10.0.0.9:5000',
      pool: 'db',
      code: 'RPMEM_E_FENCED',
      seq: 7,
    });
    expect(new Date(lines[0].time as string).toISOString()).to.equal(lines[0].time);
  });

  it('censors token, authorization and metadata fields should a caller ever pass them', () => {
    const out = capture();
    new Log('debug', {}, { format: 'json', destination: out.stream }).info('oops', {
      token: 'secret-1',
      authorization: 'Bearer secret-2',
      call: { metadata: { authorization: 'Bearer secret-3' } },
      request: { token: 'secret-4' },
    });
    const text = out.lines().join('\n');
    expect(text).not.to.match(/secret-/);
    expect(text).to.match(/\[redacted\]/);
  });

  it('prints the human form with --log-format pretty', () => {
    const out = capture();
    new Log('info', {}, { format: 'pretty', destination: out.stream }).info('pool created', { pool: 'db' });
    const text = out.lines().join('\n');
    expect(text).to.match(/INFO/);
    expect(text).to.match(/pool created/);
    expect(() => JSON.parse(out.lines()[0])).to.throw();
  });

  it('never logs the bearer token a client sends, right or wrong, even at debug level', async () => {
    const good = 'good-token-0123456789abcdef';
    const bad = 'bad-token-0123456789abcdef';
    const file = path.join(tempDir('log'), 'tokens.yaml');
    fs.writeFileSync(file, `tokens:\n  - token: "${good}"\n`);
    const target = await TestTarget.start({ args: ['--auth-token-file', file, '--log-level', 'debug'] });
    try {
      const pool = await RemotePool.create(target.address, 'logged', { size: 1 << 20, token: good });
      await pool.persist(0, Buffer.from('x'));
      await pool.close();
      await RemotePool.stat(target.address, 'missing', { token: good }).catch(() => undefined);
      const err = await RemotePool.stat(target.address, 'logged', { token: bad }).catch((e: RpmemError) => e);
      expect((err as RpmemError).code).to.equal(ErrorCode.UNAUTHENTICATED);
      const text = target.log.join('\n');
      expect(text).to.match(/"pool":"logged"/);
      expect(text).to.match(/"peer":"/);
      expect(text).not.to.include(good);
      expect(text).not.to.include(bad);
    } finally {
      await target.stop();
    }
  });
});
