/**
 * The committed files made from the tables of config keys, and what they should hold:
 * docs/configuration.md whole and deploy/rpmemd.conf from its marker line on (rpmemd's keys), and
 * the table between docs/cli.md's two markers (the failover agent's). `npm run gen:config`
 * writes them (this file's main); test/config-docs.test.ts compares them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SAMPLE_MARKER, configurationReference, sampleConfigKeys } from '../../src/target/config-docs';
import { agentKeysTable } from '../../src/cli/agent-config';

const AGENT_TABLE_START =
  '<!-- The table below is made from src/cli/agent-config.ts by `npm run gen:config`; test/config-docs.test.ts checks it. -->\n';
const AGENT_TABLE_END = '\n<!-- end of the generated table -->';

const ROOT = path.join(__dirname, '..', '..', '..');

export interface GeneratedFile {
  file: string;
  committed: string;
  expected: string;
}

export function generatedFiles(): GeneratedFile[] {
  const reference = path.join(ROOT, 'docs', 'configuration.md');
  const sample = path.join(ROOT, 'deploy', 'rpmemd.conf');
  const sampleText = fs.readFileSync(sample, 'utf8');
  const at = sampleText.indexOf(SAMPLE_MARKER);
  if (at < 0) throw new Error(`${sample} lacks the line "${SAMPLE_MARKER}"`);
  const cli = path.join(ROOT, 'docs', 'cli.md');
  const cliText = fs.readFileSync(cli, 'utf8');
  const start = cliText.indexOf(AGENT_TABLE_START);
  const end = cliText.indexOf(AGENT_TABLE_END, start);
  if (start < 0 || end < 0) throw new Error(`${cli} lacks the markers of the failover agent's table`);
  const cliExpected = `${cliText.slice(0, start + AGENT_TABLE_START.length)}${agentKeysTable()}${cliText.slice(end)}`;
  return [
    { file: reference, committed: fs.existsSync(reference) ? fs.readFileSync(reference, 'utf8') : '', expected: configurationReference() },
    { file: sample, committed: sampleText, expected: `${sampleText.slice(0, at)}${SAMPLE_MARKER}\n${sampleConfigKeys()}\n` },
    { file: cli, committed: cliText, expected: cliExpected },
  ];
}

if (require.main === module) {
  for (const g of generatedFiles()) {
    if (g.committed === g.expected) continue;
    fs.writeFileSync(g.file, g.expected);
    process.stdout.write(`wrote ${path.relative(ROOT, g.file)}\n`);
  }
}
