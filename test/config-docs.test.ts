/**
 * rpmemd's config keys have one source, src/target/config-keys.ts: the flags, `--help` and
 * `--check-config` are made from it at run time, and docs/configuration.md and the commented keys
 * of deploy/rpmemd.conf are made from it by `npm run gen:config`. This fails when a committed
 * copy drifts, or when a key is missing from any of them.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_KEYS } from '../src/target/config-keys';
import { USAGE, effectiveConfig, parseTargetArgs } from '../src/target/config';
import { generatedFiles } from './helpers/config-docs-files';

const RPMEMD = path.join(__dirname, '..', 'src', 'target', 'main.js');

describe('rpmemd config keys: one table, every copy made from it', () => {
  it('docs/configuration.md and deploy/rpmemd.conf are what npm run gen:config makes', () => {
    for (const g of generatedFiles()) expect(g.committed, `${g.file} drifted: run npm run gen:config`).to.equal(g.expected);
  });

  it('every key is a flag, a line of --help, a row of the reference, a key of --check-config, and in the sample', () => {
    const [reference, sample] = generatedFiles().map((g) => g.committed);
    const help = spawnSync(process.execPath, [RPMEMD, '--help'], { encoding: 'utf8' });
    expect(help.stdout.trim()).to.equal(USAGE);
    const parsed = parseTargetArgs(['--pool-dir', '/tmp', '--insecure']);
    if (parsed.kind !== 'run') throw new Error(`expected a run config, got ${parsed.kind}`);
    const effective = effectiveConfig(parsed.config);
    const uncommented = sample.replace(/^# ([a-z-]+): /gm, '$1: ');
    const sampleKeys = Object.keys(
      parseYaml(
        uncommented
          .split('\n')
          .filter((l) => /^[a-z-]+: /.test(l))
          .join('\n'),
      ) as object,
    );
    for (const { flag } of Object.values(CONFIG_KEYS)) {
      expect(USAGE, flag).to.match(new RegExp(`^  --${flag}\\b`, 'm'));
      expect(reference, flag).to.include(`| \`${flag}\` |`);
      expect(effective, flag).to.have.property(flag);
      expect(sampleKeys, `deploy/rpmemd.conf names ${flag}`).to.include(flag);
    }
  });
});
