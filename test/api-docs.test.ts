/**
 * The API reference (`npm run docs:api`, typedoc over src/index.ts with the options in
 * package.json) builds without a warning: every type the public API refers to is exported and
 * documented where it is linked, so the generated reference has no holes.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

describe('API reference (typedoc)', function () {
  this.timeout(120_000);

  it('builds from the TSDoc with warnings treated as errors', () => {
    const typedoc = path.join(path.dirname(require.resolve('typedoc/package.json', { paths: [ROOT] })), 'bin', 'typedoc');
    const run = spawnSync(process.execPath, [typedoc, '--emit', 'none'], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    expect(run.stdout).to.not.match(/\[warning\]/);
  });
});
