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
 *   "interleaving": "which expectations below show the race happened",
 *   "steps": [
 *     { "transport": "grpc", "method": "/rpmem.v1.Target/Persist", "callType": "bidi",
 *       "frames": ["<base64>", { "type": "PersistRequest", "value": { "start": { "handle": "$HANDLE" } } }],
 *       "end": "half-close" | "cancel" | "deadline", "deadlineMs": 5000, "cancelAfterMs": 100,
 *       "slowReader": false, "expectStatus": ["INVALID_ARGUMENT"], "expectRpmemCode": ["RPMEM_E_CLOSED"],
 *       "expectReceivedAtLeast": 1 },
 *     { "transport": "http2", "headers": { ":path": "/rpmem.v1.Target/Read" }, "frames": [...],
 *       "settings": { "initialWindowSize": 0 }, "endStream": true, "rstAfterMs": 500,
 *       "count": 16, "async": true, "expectStatus": ["RAW_NO_STATUS"], "expectAnswerStarted": true },
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
  /** The rpmem-code trailer the step must end with (the interleaving the case is about happened). */
  expectRpmemCode?: string[];
  /** At least this many messages received before the end (a stream ended mid-way, not at its start). */
  expectReceivedAtLeast?: number;
  /** http2: response headers without a status arrived first (the daemon admitted the call and began answering). */
  expectAnswerStarted?: boolean;
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
  /** How the steps' expectations show that the interleaving the case is about happened. */
  interleaving?: string;
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
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

function frameBytes(frame: Frame, vars: Record<string, string>, http: boolean): Buffer {
  if (typeof frame === 'string') return Buffer.from(frame, 'base64');
  const msg = encode(frame.type, substitute(frame.value, vars) as Record<string, unknown>);
  return http || frame.grpcFramed ? grpcFrame(msg) : msg;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How a step ended: its status name, and what came before the end. */
export interface StepResult {
  status: string;
  rpmemCode?: string;
  received: number;
  /** http2 only: response headers without a grpc-status came before the end. */
  answerStarted?: boolean;
}

/** The step's expectations that `got` does not meet, as messages; empty when it met them all. */
export function unmet(step: RegressionStep, got: StepResult): string[] {
  const out: string[] = [];
  if (step.expectStatus !== undefined && !step.expectStatus.includes(got.status))
    out.push(`ended ${got.status}, expected one of ${step.expectStatus.join(', ')}`);
  if (step.expectRpmemCode !== undefined && !step.expectRpmemCode.includes(got.rpmemCode ?? 'none'))
    out.push(`rpmem-code ${got.rpmemCode ?? 'none'}, expected one of ${step.expectRpmemCode.join(', ')}`);
  if (step.expectReceivedAtLeast !== undefined && got.received < step.expectReceivedAtLeast)
    out.push(`received ${got.received} messages before the end, expected at least ${step.expectReceivedAtLeast}`);
  if (step.expectAnswerStarted && !got.answerStarted) out.push('no response headers before the end: the daemon never began answering');
  return out;
}

/** Runs one step (gRPC steps on `client`, so the steps of a case share one connection and arrive in order); resolves with the status name it ended with. */
export async function runStep(
  address: string,
  client: grpc.Client,
  step: RegressionStep,
  vars: Record<string, string>,
): Promise<StepResult> {
  const frames = (step.frames ?? []).map((f) => frameBytes(f, vars, step.transport === 'http2'));
  if (step.transport === 'http2') return rawStep(address, step, frames);
  {
    const deadlineMs = step.deadlineMs ?? 5000;
    let out: CallOutcome;
    if (step.callType === 'unary') {
      out = await unaryCall(client, step.method!, frames[0] ?? Buffer.alloc(0), deadlineMs);
      if (step.captureHandle && out.code === 0) vars.$HANDLE = String(decode('OpenResponse', out.messages[0])?.handle ?? '');
    } else if (step.callType === 'server-stream') {
      out = await serverStreamCall(client, step.method!, frames[0] ?? Buffer.alloc(0), {
        deadlineMs,
        cancelAfterMs: step.cancelAfterMs,
        slowReader: step.slowReader,
      });
    } else {
      const call = new BidiCall(client, step.method!, deadlineMs);
      for (const f of frames) await call.write(f);
      if (step.end === 'cancel') {
        await sleep(step.cancelAfterMs ?? 0);
        call.cancel();
      } else if (step.end !== 'deadline') call.end();
      out = await call.outcome;
    }
    return { status: STATUS_NAME[out.code] ?? String(out.code), rpmemCode: out.rpmemCode, received: out.received };
  }
}

function rawStep(address: string, step: RegressionStep, frames: Buffer[]): Promise<StepResult> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://${address}`, step.settings === undefined ? {} : { settings: step.settings });
    session.on('error', () => undefined);
    let status = 'RAW_NO_STATUS';
    let answerStarted = false;
    let received = 0;
    const done = (): void => {
      clearTimeout(guard);
      session.destroy();
      resolve({ status, received, answerStarted });
    };
    const guard = setTimeout(done, step.deadlineMs ?? 5000);
    const headers = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...step.headers };
    const endStream = step.endStream ?? true;
    const req = session.request(headers, { endStream: frames.length === 0 && endStream });
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = STATUS_NAME[Number(h['grpc-status'])] ?? String(h['grpc-status']);
    };
    req.on('response', (h) => {
      answerStarted ||= h['grpc-status'] === undefined;
      take(h);
    });
    req.on('trailers', take);
    req.on('data', () => void received++);
    req.on('error', () => undefined);
    req.on('close', done);
    frames.forEach((f, i) => (i === frames.length - 1 && endStream ? req.end(f) : req.write(f)));
    if (step.rstAfterMs !== undefined) setTimeout(() => req.destroyed || req.close(http2.constants.NGHTTP2_CANCEL), step.rstAfterMs);
  });
}
