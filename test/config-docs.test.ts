/**
 * rpmemd's config keys have one source, src/target/config-keys.ts, and the failover agent's one,
 * src/cli/agent-config.ts (its --help, the check of its file, and its table in docs/cli.md).
 * rpmemd's: the flags, `--help` and
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
import * as fs from 'fs';
import { AGENT_KEYS, buildAgentConfig } from '../src/cli/agent-config';

const RPMEM = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const AGENT_SAMPLE = path.join(__dirname, '..', '..', 'deploy', 'failover-agent.conf');

const RPMEMD = path.join(__dirname, '..', 'src', 'target', 'main.js');

describe('rpmemd config keys: one table, every copy made from it', () => {
  it("docs/configuration.md, deploy/rpmemd.conf and docs/cli.md's agent table are what npm run gen:config makes", () => {
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

describe('failover-agent config keys: one table', () => {
  it('every key is a line of --help, a row of docs/cli.md, and in deploy/failover-agent.conf', () => {
    const help = spawnSync(process.execPath, [RPMEM, 'failover-agent', '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    const cli = generatedFiles()[2].committed;
    const sample = fs.readFileSync(AGENT_SAMPLE, 'utf8');
    for (const flag of Object.keys(AGENT_KEYS)) {
      expect(help.stdout, flag).to.match(new RegExp(`^\\s+--${flag}\\b`, 'm'));
      expect(cli, flag).to.include(`| \`${flag}\` |`);
      expect(sample, `deploy/failover-agent.conf names ${flag}`).to.match(new RegExp(`^(# )?${flag}:`, 'm'));
    }
  });

  it('a default the table states is the value the agent takes, and a required key is refused when missing', () => {
    const required = { group: 'g', pool: '/p', replica: ['h:1/n'] };
    const config = buildAgentConfig(required) as unknown as Record<string, unknown>;
    let stated = 0;
    for (const [flag, spec] of Object.entries(AGENT_KEYS)) {
      const value = config[spec.key];
      if (spec.defaultText === 'required') {
        const { [flag as keyof typeof required]: _dropped, ...rest } = required;
        expect(() => buildAgentConfig(rest), flag).to.throw(`config "${flag}": is required`);
      } else if (value !== undefined && flag !== 'group' && flag !== 'pool' && flag !== 'replica') {
        expect(String(value), flag).to.equal(spec.default);
        stated++;
      }
    }
    expect(stated, 'defaults checked (etcd, ack, ttl, key-prefix)').to.equal(4);
  });
});
