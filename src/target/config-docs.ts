/**
 * What is made from the table of config keys (config-keys.ts): rpmemd's `--help`, the
 * configuration reference (docs/configuration.md) and the commented list of keys at the end of
 * deploy/rpmemd.conf. test/config-docs.test.ts checks the committed copies against these.
 */
import { CONFIG_KEYS, KeySpec, TargetConfig, defaultText } from './config-keys';

const FLAG_COLUMN = 32;

type Entry = [keyof TargetConfig, KeySpec];

function entries(): Entry[] {
  return Object.entries(CONFIG_KEYS) as Entry[];
}

function optionLine(flag: string, arg: string | undefined, help: string): string {
  const left = `  --${flag}${arg === undefined ? '' : ` ${arg}`}`;
  return `${left.padEnd(FLAG_COLUMN)}${left.length >= FLAG_COLUMN ? ' ' : ''}${help}`;
}

function helpDefault(key: keyof TargetConfig, s: KeySpec): string {
  if (s.kind === 'boolean' || s.defaultText === 'none') return '';
  return s.defaultText === 'required' ? ' (required)' : ` (default ${defaultText(key)})`;
}

/** `rpmemd --help`. */
export function usage(): string {
  const keys = entries().map(([key, s]) => optionLine(s.flag, s.arg, `${s.help}${helpDefault(key, s)}`));
  return [
    'Usage: rpmemd --pool-dir DIR [options]',
    '',
    'Serves rpmem pools from one directory over gRPC.',
    '',
    'Options (each is also a key of the YAML config file):',
    ...keys,
    optionLine('config', 'FILE', 'YAML file with any of the keys above'),
    optionLine('check-config', undefined, 'validate the flags, config file, TLS and token files, print the effective config as JSON, exit'),
    optionLine('help', undefined, 'print this help'),
    optionLine('version', undefined, 'print the version'),
    '',
    'On start it prints one line to stdout: "rpmemd listening on HOST:PORT".',
    'Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or a good --check-config, 1 if shutdown',
    'failed, 2 on a bad flag or config or any other failure to start (address in use, unreadable TLS or',
    'token file).',
  ].join('\n');
}

/** `help` as the start of a sentence: capitalized, unless it opens with a value to type (`auto | json`). */
function sentence(help: string): string {
  return /^\S+ \|/.test(help) ? help : `${help[0].toUpperCase()}${help.slice(1)}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** docs/configuration.md. */
export function configurationReference(): string {
  const rows = entries().map(
    ([key, s]) =>
      `| \`${s.flag}\` | ${s.kind === 'boolean' ? `\`${defaultText(key)}\`` : defaultText(key)} | ${cell(s.doc ?? `${sentence(s.help)}.`)} |`,
  );
  return [
    '# rpmemd configuration reference',
    '',
    '<!-- Generated from src/target/config-keys.ts by `npm run gen:config`; test/config-docs.test.ts fails when it drifts. -->',
    '',
    '`rpmemd` reads an optional YAML file (`--config FILE`) whose keys are the flag names; a flag on the',
    'command line wins over the file. Every key and value is checked at start: an unknown key or a bad',
    'value stops `rpmemd` with exit code 2 and one line naming it, e.g.',
    '`rpmemd: RPMEM_E_INVALID_ARGUMENT: config "max-range-byte": unknown key`. Numbers are plain byte',
    'counts or milliseconds, without suffixes; `insecure` is `true` or `false`.',
    '`rpmemd --check-config` prints the effective configuration as JSON. `deploy/rpmemd.conf` is a',
    'commented sample.',
    '',
    '| Key (flag) | Default | Meaning |',
    '|---|---|---|',
    ...rows,
    '',
    '## `rpmemd --help`',
    '',
    '```',
    usage(),
    '```',
    '',
  ].join('\n');
}

/** The line of deploy/rpmemd.conf after which the generated list of keys starts. */
export const SAMPLE_MARKER = '# The other keys, with their defaults; uncomment to change (generated from src/target/config-keys.ts).';

/** The commented keys after SAMPLE_MARKER in deploy/rpmemd.conf. */
export function sampleConfigKeys(): string {
  return entries()
    .filter(([, s]) => s.inSampleProse !== true)
    .map(([key, s]) => {
      const value = s.example ?? defaultText(key).split(' ')[0];
      const text = sentence(s.help);
      const line =
        s.defaultText !== undefined
          ? `${text}. Default: ${s.defaultText}.`
          : s.defaultNote !== undefined
            ? `${text} (${s.defaultNote}).`
            : `${text}.`;
      return `# ${line}\n# ${s.flag}: ${value}`;
    })
    .join('\n');
}
