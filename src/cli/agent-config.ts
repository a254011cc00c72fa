/**
 * The keys of `rpmem failover-agent`: one table from which its flags, its --help and the check of
 * its YAML config file (deploy/failover-agent.conf, beside rpmemd.conf) are made. A flag given on
 * the command line wins over the same key in the file.
 */
import * as fs from 'fs';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_KEY_PREFIX, DEFAULT_TTL_SECONDS } from '../initiator/failover/candidate-options';
import type { WritePolicy } from '../initiator/replicated-pool';
import { OptionSpec, Options, UsageError, parseCount } from './command';

/** The agent's settings, each under the key (and flag) named in {@link AGENT_KEYS}. */
export interface AgentConfig {
  /** etcd client URLs (key `etcd`, repeatable flag `--etcd`). Default `['http://127.0.0.1:2379']`. */
  etcd: string[];
  /** The group: one per replicated pool, the same on every candidate (key `group`). Required. */
  group: string;
  /** This candidate's name in the group (key `member`). Default `<hostname>-<pid>`. */
  member?: string;
  /** The local pool file of this node (key `pool`). Required. */
  pool: string;
  /** The replicas, `HOST:PORT/NAME` (key `replica`, a list). Required. */
  replicas: string[];
  /** Write policy of the primary (key `ack`): all, majority or a number. Default majority. */
  ack: WritePolicy;
  /** Lease TTL in whole seconds (key `ttl`). Default 10. */
  ttlSeconds: number;
  /** Milliseconds between lease renewals (key `loop-wait-ms`). Default ttl / 3. */
  loopWaitMs?: number;
  /** Deadline of each etcd call in milliseconds (key `retry-timeout-ms`). Default ttl / 3. */
  retryTimeoutMs?: number;
  /** Stop acknowledging this long before the lease could expire (key `fence-margin-ms`). Default max(200, ttl / 10). */
  fenceMarginMs?: number;
  /** Root of the group's keys in etcd (key `key-prefix`). Default `/rpmem/`. */
  keyPrefix: string;
  /**
   * The application, a shell command the agent runs while this node is the primary (key `exec`):
   * started after the promotion with the pool released for it to open, SIGKILLed with its process
   * group when the term ends. Env as for the hooks. Default: none, the agent holds the pool itself.
   */
  exec?: string;
  /** Shell command run when this node becomes primary (key `on-elected`); env RPMEM_ROLE, RPMEM_EPOCH, RPMEM_POOL, RPMEM_REPLICAS, RPMEM_ACK, RPMEM_GROUP, RPMEM_MEMBER. */
  onElected?: string;
  /** Shell command run when this node stops being primary (key `on-demoted`), same environment. */
  onDemoted?: string;
  /** etcd user (key `etcd-user`); its password is read from `etcd-password-file`. */
  etcdUser?: string;
  /** File holding the etcd user's password (key `etcd-password-file`). */
  etcdPasswordFile?: string;
  /** PEM CA bundle for `https://` etcd URLs (key `etcd-ca`). */
  etcdCa?: string;
  /** PEM client certificate and key for etcd (keys `etcd-cert`, `etcd-key`). */
  etcdCert?: string;
  etcdKey?: string;
}

type Kind = 'string' | 'list' | 'seconds' | 'ms' | 'policy';

interface AgentKey extends OptionSpec {
  key: keyof AgentConfig;
  kind: Kind;
  /** The value the agent takes when the key is not given, as the config file would spell it. */
  default?: string;
  /** Without such a value, what a missing key means: `required`, or how the agent derives one (`ttl / 3`); unset for none. */
  defaultText?: string;
  /** The key's row in docs/cli.md, a sentence or more (`help` is the one-line --help form). */
  doc: string;
}

const HOOK_ENV = '`RPMEM_ROLE`, `RPMEM_EPOCH`, `RPMEM_POOL`, `RPMEM_REPLICAS`, `RPMEM_ACK`, `RPMEM_GROUP`, `RPMEM_MEMBER`';

/**
 * Every key of the agent's config file, by its flag name: its --help line, its default, its row of
 * docs/cli.md (made by `npm run gen:config`, checked by test/config-docs.test.ts).
 */
export const AGENT_KEYS: Record<string, AgentKey> = {
  etcd: {
    key: 'etcd',
    kind: 'list',
    type: 'string',
    multiple: true,
    arg: 'URL',
    help: 'an etcd client URL; repeat for each',
    default: 'http://127.0.0.1:2379',
    doc: 'etcd client URLs (a list; the flag repeats).',
  },
  group: {
    key: 'group',
    kind: 'string',
    type: 'string',
    arg: 'NAME',
    help: 'the group of candidates of one replicated pool',
    defaultText: 'required',
    doc: 'The group: one per replicated pool, the same on every candidate.',
  },
  member: {
    key: 'member',
    kind: 'string',
    type: 'string',
    arg: 'NAME',
    help: "this candidate's name in the group",
    defaultText: 'HOSTNAME-PID',
    doc: "This candidate's name in the group.",
  },
  pool: {
    key: 'pool',
    kind: 'string',
    type: 'string',
    arg: 'PATH',
    help: "this node's local pool file",
    defaultText: 'required',
    doc: "This node's local pool file; created from the newest replica when missing.",
  },
  replica: {
    key: 'replicas',
    kind: 'list',
    type: 'string',
    multiple: true,
    arg: 'HOST:PORT/NAME',
    help: 'a replica; repeat for each',
    defaultText: 'required',
    doc: 'The replicas, `HOST:PORT/NAME` (a list; the flag repeats). They must exist (`rpmem create`).',
  },
  ack: {
    key: 'ack',
    kind: 'policy',
    type: 'string',
    arg: 'POLICY',
    help: 'write policy of the primary: all, majority or a number',
    default: 'majority',
    doc: 'Write policy of the primary: `all`, `majority` or a number.',
  },
  ttl: {
    key: 'ttlSeconds',
    kind: 'seconds',
    type: 'string',
    arg: 'SECONDS',
    help: 'lease TTL of the leader key, whole seconds >= 2',
    default: String(DEFAULT_TTL_SECONDS),
    doc: 'Lease TTL of the leader key, whole seconds ≥ 2.',
  },
  'loop-wait-ms': {
    key: 'loopWaitMs',
    kind: 'ms',
    type: 'string',
    arg: 'MS',
    help: 'time between lease renewals and campaigns',
    defaultText: 'ttl / 3',
    doc: "Time between lease renewals (and a standby's campaigns).",
  },
  'retry-timeout-ms': {
    key: 'retryTimeoutMs',
    kind: 'ms',
    type: 'string',
    arg: 'MS',
    help: 'deadline of each etcd call; loop-wait + 2 x retry-timeout <= ttl',
    defaultText: 'ttl / 3',
    doc: 'Deadline of each etcd call. `loop-wait-ms + 2 × retry-timeout-ms ≤ ttl`, checked at start.',
  },
  'fence-margin-ms': {
    key: 'fenceMarginMs',
    kind: 'ms',
    type: 'string',
    arg: 'MS',
    help: 'stop acking this long before the lease could expire',
    defaultText: 'max(200, ttl / 10)',
    doc: 'The primary stops acknowledging this long before its lease could expire.',
  },
  'key-prefix': {
    key: 'keyPrefix',
    kind: 'string',
    type: 'string',
    arg: 'PREFIX',
    help: "root of the group's keys in etcd",
    default: DEFAULT_KEY_PREFIX,
    doc: "Root of the group's keys in etcd.",
  },
  exec: {
    key: 'exec',
    kind: 'string',
    type: 'string',
    arg: 'COMMAND',
    help: 'the application to run while primary (sh -c, env RPMEM_*); killed when the term ends',
    doc: 'The application to run while this node is the primary (`sh -c`), see below. Without it the agent holds the pool itself and nothing can write through it.',
  },
  'on-elected': {
    key: 'onElected',
    kind: 'string',
    type: 'string',
    arg: 'COMMAND',
    help: 'shell command run on becoming primary (env RPMEM_ROLE, RPMEM_EPOCH, RPMEM_POOL, ...)',
    doc: `Shell command run when this node becomes primary, with ${HOOK_ENV} set.`,
  },
  'on-demoted': {
    key: 'onDemoted',
    kind: 'string',
    type: 'string',
    arg: 'COMMAND',
    help: 'shell command run on losing the primary role',
    doc: 'Shell command run when this node stops being primary, with the same environment.',
  },
  'etcd-user': {
    key: 'etcdUser',
    kind: 'string',
    type: 'string',
    arg: 'USER',
    help: 'etcd user, when etcd has auth enabled',
    doc: 'etcd user, when etcd has authentication enabled; goes with `etcd-password-file`.',
  },
  'etcd-password-file': {
    key: 'etcdPasswordFile',
    kind: 'string',
    type: 'string',
    arg: 'FILE',
    help: "file holding the etcd user's password",
    doc: "File holding the etcd user's password.",
  },
  'etcd-ca': {
    key: 'etcdCa',
    kind: 'string',
    type: 'string',
    arg: 'FILE',
    help: 'PEM CA bundle for https:// etcd URLs',
    doc: 'PEM CA bundle for `https://` etcd URLs.',
  },
  'etcd-cert': {
    key: 'etcdCert',
    kind: 'string',
    type: 'string',
    arg: 'FILE',
    help: 'PEM client certificate for etcd',
    doc: 'PEM client certificate for etcd (optional).',
  },
  'etcd-key': {
    key: 'etcdKey',
    kind: 'string',
    type: 'string',
    arg: 'FILE',
    help: "the etcd client certificate's private key",
    doc: "The etcd client certificate's private key.",
  },
};

/** `help` with its default, as --help prints it. */
function helpLine({ help, default: value, defaultText }: AgentKey): string {
  const shown = value ?? defaultText;
  if (shown === undefined) return help;
  return `${help} (${shown === 'required' ? 'required' : `default ${shown}`})`;
}

/** The agent's flags, as the CLI's option table takes them. */
export const AGENT_OPTIONS: Options = Object.fromEntries(
  Object.entries(AGENT_KEYS).map(([flag, spec]) => [
    flag,
    { type: spec.type, multiple: spec.multiple, arg: spec.arg, help: helpLine(spec) },
  ]),
);

/** The table of the agent's keys in docs/cli.md. */
export function agentKeysTable(): string {
  const rows = Object.entries(AGENT_KEYS).map(([flag, s]) => {
    const shown = s.default !== undefined ? `\`${s.default}\`` : (s.defaultText ?? 'none');
    return `| \`${flag}\` | ${shown} | ${s.doc} |`;
  });
  return ['| Key (flag) | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The values of the keys whose table entry gives one, as buildAgentConfig starts from them. */
const DEFAULTS: Record<string, unknown> = Object.fromEntries(
  Object.entries(AGENT_KEYS)
    .filter(([, spec]) => spec.default !== undefined)
    .map(([flag, spec]) => [spec.key, coerce(flag, spec.kind, spec.default)]),
);

/** Reads a YAML config file of agent keys; UsageError naming the file when it is unreadable or not a mapping. */
export function readAgentConfigFile(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`config file ${file}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`config file ${file}: not a mapping`);
  return parsed as Record<string, unknown>;
}

/** Builds the agent's config from `values` keyed by flag name (file values first, flags over them). */
export function buildAgentConfig(values: Record<string, unknown>): AgentConfig {
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const [flag, raw] of Object.entries(values)) {
    if (raw === undefined) continue;
    const spec = AGENT_KEYS[flag];
    if (spec === undefined) throw new UsageError(`config "${flag}": unknown key`);
    out[spec.key] = coerce(flag, spec.kind, raw);
  }
  const config = out as unknown as AgentConfig;
  for (const [flag, spec] of Object.entries(AGENT_KEYS)) {
    if (spec.defaultText === 'required' && out[spec.key] === undefined) throw new UsageError(`config "${flag}": is required`);
  }
  return config;
}

function coerce(flag: string, kind: Kind, raw: unknown): unknown {
  if (kind === 'list') {
    const items = Array.isArray(raw) ? raw : [raw];
    if (items.length === 0 || !items.every((i) => typeof i === 'string' && i !== ''))
      throw new UsageError(`config "${flag}": must be a non-empty list of strings`);
    return items;
  }
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || text === '')
    throw new UsageError(`config "${flag}": must be a non-empty string, got ${JSON.stringify(raw)}`);
  if (kind === 'seconds' || kind === 'ms') return parseCount(flag, text);
  if (kind === 'policy') {
    if (text === 'all' || text === 'majority') return text;
    if (/^\d+$/.test(text)) return Number(text);
    throw new UsageError(`config "${flag}": must be all, majority or a number, got "${text}"`);
  }
  return text;
}
