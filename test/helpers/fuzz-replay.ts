/**
 * Regression cases kept from fuzzing (test/fuzz-regressions/*.json) and their replay.
 *
 * A case names the input that once crashed, hung or leaked, as frames sent over gRPC (raw bytes as
 * base64, or a message built from JSON with "$HANDLE" and "$POOL" standing for a pool the replay
 * creates and opens), or as raw HTTP/2 requests. After the steps (repeated `repeat` times) the
 * daemon must still be running and answer; `expect` adds checks of what the bug broke.
 *
 * {
 *   "name": "...", "description": "what broke and why", "found": "seed and date",
 *   "daemonArgs": ["--max-streams", "4"],          // optional: replay on a daemon of its own
 *   "setup": { "poolSize": 20975616, "open": "read-write" | "read-only" },   // optional
 *   "repeat": 1,
 *   "steps": [
 *     { "transport": "grpc", "method": "/rpmem.v1.Target/Persist", "callType": "bidi",
 *       "frames": ["<base64>", { "type": "PersistRequest", "value": { "start": { "handle": "$HANDLE" } } }],
 *       "end": "half-close" | "cancel" | "deadline", "deadlineMs": 5000, "cancelAfterMs": 100,
 *       "slowReader": false, "expectStatus": ["INVALID_ARGUMENT"] },
 *     { "transport": "http2", "headers": { ":path": "/rpmem.v1.Target/Read" }, "frames": [...],
 *       "settings": { "initialWindowSize": 0 }, "endStream": true, "rstAfterMs": 500,
 *       "count": 16, "async": true },
 *     { "transport": "probe", "delayMs": 3000, "maxRssGrowthMB": 100 }
 *   ],
 *   "expect": { "settleMs": 500, "streamAdmitted": true, "writerReopens": true }
 * }
 */
import * as fs from 'fs';
import * as http2 from 'http2';
import * as path from 'path';
import { decode, encode, grpcFrame } from './fuzz-frames';
import type * as grpc from '@grpc/grpc-js';
import { BidiCall, CallOutcome, STATUS_NAME, serverStreamCall, unaryCall } from './fuzz-calls';

export const REGRESSION_DIR = path.resolve(__dirname, '..', '..', '..', 'test', 'fuzz-regressions');

type Frame = string | { type: string; value: unknown; grpcFramed?: boolean };

export interface RegressionStep {
  /** `probe` sends nothing: it checks the daemon's RSS growth since the case began (maxRssGrowthMB). */
  transport: 'grpc' | 'http2' | 'probe';
  /** Run this step this many times (default 1). */
  count?: number;
  maxRssGrowthMB?: number;
  method?: string;
  callType?: 'unary' | 'server-stream' | 'bidi';
  frames?: Frame[];
  end?: 'half-close' | 'cancel' | 'deadline';
  deadlineMs?: number;
  cancelAfterMs?: number;
  slowReader?: boolean;
  expectStatus?: string[];
  /** Start this step and go on with the next without waiting for it (all are awaited at the end). */
  async?: boolean;
  /** Wait this long before the step. */
  delayMs?: number;
  /** Set $HANDLE from this step's OpenResponse. */
  captureHandle?: boolean;
  headers?: Record<string, string>;
  settings?: http2.Settings;
  endStream?: boolean;
  rstAfterMs?: number;
}

export interface RegressionCase {
  name: string;
  description: string;
  found?: string;
  daemonArgs?: string[];
  setup?: { poolSize: number; open?: 'read-write' | 'read-only' };
  repeat?: number;
  steps: RegressionStep[];
  expect?: { settleMs?: number; streamAdmitted?: boolean; writerReopens?: boolean };
}

export function loadRegressions(): { file: string; kase: RegressionCase }[] {
  if (!fs.existsSync(REGRESSION_DIR)) return [];
  return fs
    .readdirSync(REGRESSION_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, kase: JSON.parse(fs.readFileSync(path.join(REGRESSION_DIR, f), 'utf8')) as RegressionCase }));
}

function substitute(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === 'string') return vars[value] ?? value;
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

function frameBytes(frame: Frame, vars: Record<string, string>, http: boolean): Buffer {
  if (typeof frame === 'string') return Buffer.from(frame, 'base64');
  const msg = encode(frame.type, substitute(frame.value, vars) as Record<string, unknown>);
  return http || frame.grpcFramed ? grpcFrame(msg) : msg;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one step (gRPC steps on `client`, so the steps of a case share one connection and arrive in order); resolves with the status name it ended with. */
export async function runStep(address: string, client: grpc.Client, step: RegressionStep, vars: Record<string, string>): Promise<string> {
  const frames = (step.frames ?? []).map((f) => frameBytes(f, vars, step.transport === 'http2'));
  if (step.transport === 'http2') return rawStep(address, step, frames);
  {
    const deadlineMs = step.deadlineMs ?? 5000;
    let out: CallOutcome;
    if (step.callType === 'unary') {
      out = await unaryCall(client, step.method!, frames[0] ?? Buffer.alloc(0), deadlineMs);
      if (step.captureHandle && out.code === 0) vars.$HANDLE = String(decode('OpenResponse', out.messages[0])?.handle ?? '');
    } else if (step.callType === 'server-stream') {
      out = await serverStreamCall(client, step.method!, frames[0] ?? Buffer.alloc(0), { deadlineMs, cancelAfterMs: step.cancelAfterMs, slowReader: step.slowReader });
    } else {
      const call = new BidiCall(client, step.method!, deadlineMs);
      for (const f of frames) await call.write(f);
      if (step.end === 'cancel') {
        await sleep(step.cancelAfterMs ?? 0);
        call.cancel();
      } else if (step.end !== 'deadline') call.end();
      out = await call.outcome;
    }
    return STATUS_NAME[out.code] ?? String(out.code);
  }
}

function rawStep(address: string, step: RegressionStep, frames: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://${address}`, step.settings === undefined ? {} : { settings: step.settings });
    session.on('error', () => undefined);
    let status = 'RAW_NO_STATUS';
    const done = (): void => {
      clearTimeout(guard);
      session.destroy();
      resolve(status);
    };
    const guard = setTimeout(done, step.deadlineMs ?? 5000);
    const headers = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...step.headers };
    const endStream = step.endStream ?? true;
    const req = session.request(headers, { endStream: frames.length === 0 && endStream });
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = STATUS_NAME[Number(h['grpc-status'])] ?? String(h['grpc-status']);
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('close', done);
    frames.forEach((f, i) => (i === frames.length - 1 && endStream ? req.end(f) : req.write(f)));
    if (step.rstAfterMs !== undefined) setTimeout(() => req.destroyed || req.close(http2.constants.NGHTTP2_CANCEL), step.rstAfterMs);
  });
}
