/**
 * The committed files made from rpmemd's table of config keys, and what they should hold:
 * docs/configuration.md whole, and deploy/rpmemd.conf from its marker line on. `npm run gen:config`
 * writes them (this file's main); test/config-docs.test.ts compares them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SAMPLE_MARKER, configurationReference, sampleConfigKeys } from '../../src/target/config-docs';

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
  return [
    { file: reference, committed: fs.existsSync(reference) ? fs.readFileSync(reference, 'utf8') : '', expected: configurationReference() },
    { file: sample, committed: sampleText, expected: `${sampleText.slice(0, at)}${SAMPLE_MARKER}\n${sampleConfigKeys()}\n` },
  ];
}

if (require.main === module) {
  for (const g of generatedFiles()) {
    if (g.committed === g.expected) continue;
    fs.writeFileSync(g.file, g.expected);
    process.stdout.write(`wrote ${path.relative(ROOT, g.file)}\n`);
  }
}
