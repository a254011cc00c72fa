/**
 * Bearer-token authentication and per-pool authorization.
 *
 * The token file (YAML) lists tokens, each optionally limited to pool-name patterns (`*` matches
 * any run of characters) and to read-only use:
 *
 *   tokens:
 *     - token: "long-random-secret"          # or sha256: "<hex of the token's SHA-256>"
 *       pools: ["app-*", "logs"]             # default: every pool
 *       read-only: false                     # default false
 *
 * Clients send `authorization: Bearer <token>` metadata (the scheme in any case). Tokens are kept only as SHA-256 digests
 * and compared with timingSafeEqual against every entry, so neither content nor position leaks
 * through timing. Tokens are never logged.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import type { Metadata } from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { RpmemError, ErrorCode } from '../storage/errors';

/** What a caller may do. */
export interface Principal {
  /** Which token this is (`tokens[3]`), for per-principal limits; '' when the daemon has no token file. */
  readonly id: string;
  /** Throws RPMEM_E_PERMISSION unless this caller may `access` pool `name`. */
  authorize(name: string, access: 'read' | 'write'): void;
  /** True when the caller may see pool `name` at all (for listings). */
  covers(name: string): boolean;
}

interface TokenEntry {
  digest: Buffer;
  pools: RegExp[];
  readOnly: boolean;
  label: string;
}

/** Everyone may do everything: the daemon runs without a token file. */
const EVERYONE: Principal = {
  id: '',
  authorize: () => undefined,
  covers: () => true,
};

function invalid(file: string, message: string): RpmemError {
  return new RpmemError(ErrorCode.INVALID_ARGUMENT, `auth-token-file ${file}: ${message}`);
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

function parseEntry(file: string, raw: unknown, i: number): TokenEntry {
  if (typeof raw !== 'object' || raw === null) throw invalid(file, `tokens[${i}] is not a mapping`);
  const e = raw as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!['token', 'sha256', 'pools', 'read-only'].includes(key)) throw invalid(file, `tokens[${i}]: unknown key "${key}"`);
  }
  let digest: Buffer;
  if (typeof e.token === 'string' && e.token.length >= 16) {
    digest = crypto.createHash('sha256').update(e.token).digest();
  } else if (typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(e.sha256)) {
    digest = Buffer.from(e.sha256, 'hex');
  } else {
    throw invalid(file, `tokens[${i}] needs "token" (16 characters or more) or "sha256" (64 hex digits)`);
  }
  const pools = e.pools ?? ['*'];
  if (!Array.isArray(pools) || !pools.every((p) => typeof p === 'string'))
    throw invalid(file, `tokens[${i}].pools must be a list of patterns`);
  if (e['read-only'] !== undefined && typeof e['read-only'] !== 'boolean')
    throw invalid(file, `tokens[${i}].read-only must be true or false`);
  return { digest, pools: (pools as string[]).map(globToRegExp), readOnly: e['read-only'] === true, label: `tokens[${i}]` };
}

export class Authenticator {
  private constructor(private readonly entries: TokenEntry[] | undefined) {}

  /** No token file: every caller is allowed everything. */
  static open(): Authenticator {
    return new Authenticator(undefined);
  }

  /** Loads and validates a token file; throws RPMEM_E_INVALID_ARGUMENT naming the problem. */
  static load(file: string): Authenticator {
    let doc: unknown;
    try {
      doc = parseYaml(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw invalid(file, (err as Error).message);
    }
    const tokens = (doc as { tokens?: unknown } | null)?.tokens;
    if (!Array.isArray(tokens) || tokens.length === 0) throw invalid(file, 'needs a non-empty "tokens" list');
    return new Authenticator(tokens.map((t, i) => parseEntry(file, t, i)));
  }

  /** The caller behind `metadata`; throws RPMEM_E_UNAUTHENTICATED for a missing or unknown token. */
  authenticate(metadata: Metadata): Principal {
    if (this.entries === undefined) return EVERYONE;
    return principalOf(this.entryOf(metadata, this.entries));
  }

  /**
   * True when a token file is configured and `metadata` carries one of its tokens that may write:
   * the connection it came on may get the larger receive window (http2-window.ts). Never for a
   * daemon without a token file, whose callers are anyone.
   */
  isWriter(metadata: Metadata): boolean {
    if (this.entries === undefined) return false;
    try {
      return !this.entryOf(metadata, this.entries).readOnly;
    } catch {
      return false;
    }
  }

  private entryOf(metadata: Metadata, entries: TokenEntry[]): TokenEntry {
    const header = metadata.get('authorization')[0];
    // The scheme is case-insensitive and followed by one or more spaces (RFC 7235, RFC 6750).
    const m = typeof header === 'string' ? /^bearer +(.+)$/i.exec(header) : null;
    if (m === null) throw new RpmemError(ErrorCode.UNAUTHENTICATED, 'this target requires a bearer token');
    const digest = crypto.createHash('sha256').update(m[1]).digest();
    let found: TokenEntry | undefined;
    for (const entry of entries) {
      if (crypto.timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
    }
    if (found === undefined) throw new RpmemError(ErrorCode.UNAUTHENTICATED, 'unknown token');
    return found;
  }
}

function principalOf(entry: TokenEntry): Principal {
  const covers = (name: string): boolean => entry.pools.some((re) => re.test(name));
  return {
    id: entry.label,
    covers,
    authorize(name, access) {
      if (!covers(name)) throw new RpmemError(ErrorCode.PERMISSION, `this token does not cover pool ${name}`);
      if (access === 'write' && entry.readOnly)
        throw new RpmemError(ErrorCode.PERMISSION, `this token is read-only; pool ${name} cannot be changed with it`);
    },
  };
}
