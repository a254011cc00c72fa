/**
 * The fuzz engine: workers that send a live rpmemd random and mutated frames, hostile Persist
 * streams, random sequences of control calls and broken raw HTTP/2, bounded in time, in count and
 * in calls in flight. Every input is drawn from a seeded Rng: the seed fixes each worker's sequence
 * of cases and each case's own Rng, so a case's inputs depend only on the seed and on what the
 * daemon answered (handles, durable seqs) and the handles other workers shared; the interleaving
 * of workers, and so those answers, can vary between runs of one seed.
 *
 * It counts frames and statuses, and records anomalies: answers a correct daemon never gives
 * (RPMEM_E_INTERNAL or UNKNOWN, an OK to an invalid request, an ack past the last valid range, a
 * unary call that never answers, a Persist stream of valid ranges that its client ended and that hangs
 * or fails for a reason the engine cannot confirm). The last cases and those in flight are kept as traces (base64
 * frames) so a crash can be turned into a regression case.
 */
import * as crypto from 'crypto';
import * as http2 from 'http2';
import * as net from 'net';
import * as zlib from 'zlib';
import * as grpc from '@grpc/grpc-js';
import { Rng } from './fuzz-rng';
import {
  FUZZ_POOL_NAMES,
  PERSIST_POOL_NAMES,
  FuzzState,
  Method,
  OTHER_PATHS,
  TARGET_METHODS,
  decode,
  encode,
  grpcFrame,
  mutate,
  randomBatch,
  randomBytes,
  randomHandle,
  randomRange,
  randomRequest,
  randomStart,
  tinyRangesBatch,
} from './fuzz-frames';
import { DEFAULT_MAX_BATCH_RANGES } from '../../src/wire/protocol';
import { BidiCall, CallOutcome, STATUS_NAME, newClient, serverStreamCall, unaryCall } from './fuzz-calls';

export type Kind = 'random' | 'mutated' | 'persist' | 'control' | 'raw-http2';
export const KINDS: Kind[] = ['random', 'mutated', 'persist', 'control', 'raw-http2'];

export const DEFAULT_WEIGHTS: Record<Kind, number> = { random: 20, mutated: 25, persist: 25, control: 20, 'raw-http2': 10 };

const HEADER_BYTES = 4096;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SVC = '/rpmem.v1.Target/';
/** A unary call the daemon has not answered after this long counts as hung. */
const UNARY_DEADLINE_MS = 20_000;
/** A Persist stream of valid ranges that its client ended and that has not ended after this long is hung. */
const PERSIST_HANG_MS = 20_000;
/** A case still running after this long is reported (every call in it has a shorter deadline). */
const CASE_LIMIT_MS = 60_000;
const MAX_CASES_PER_WORKER = 1_000_000;
const RECENT_TRACES = 64;
const MAX_HANDLES = 64;
/** The decode-amplification message of issue #10: one-byte ranges filling most of max-message-bytes. */
const TINY_FLOOD_RANGES = 850_000;

/**
 * Calls one fuzzer connection may start. nghttp2 answers a peer whose RST_STREAMs outrun a token
 * bucket (1,000 tokens, 33 a second; Node 20 cannot change it) with GOAWAY, and the connection's
 * open calls end INTERNAL: a rapid-reset defence, not a daemon fault. A call sends at most one
 * RST_STREAM, so a connection that starts fewer calls than the bucket holds never reaches it.
 */
const CALLS_PER_CLIENT = 900;

export interface FuzzConfig {
  address: string;
  seed: number;
  /** Distinguishes phases of one run: their workers draw from different Rng streams. */
  stream: number;
  label: string;
  durationMs: number;
  workers: number;
  /** Most calls and raw streams in flight at once. */
  maxInFlight: number;
  /** Connections (grpc.Client each) shared by the workers. */
  clients: number;
  maxPoolBytes: number;
  maxRangeBytes: number;
  /** The daemon's max-streams: reaching it with fewer calls in flight is a leak. */
  maxStreams: number;
  /** The daemon's idle-stream-ms: a stream it ends with RPMEM_E_TIMEOUT must have been that idle. */
  idleStreamMs: number;
  weights?: Record<Kind, number>;
}

/** One case's input, enough to replay it by hand: base64 frames as sent. */
export interface Trace {
  id: number;
  worker: number;
  /** The case's index in its worker and its own Rng (seed, stream): the seed fixes both. */
  case: number;
  caseSeed: [number, number];
  kind: Kind;
  transport: 'grpc' | 'http2' | 'tcp';
  method: string;
  callType?: string;
  frames: string[];
  keptBytes?: number;
  headers?: Record<string, string>;
  end?: string;
  note?: string;
  startedMs: number;
}

export interface Anomaly {
  what: string;
  detail: string;
  trace?: Trace;
}

export class FuzzStats {
  readonly frames: Record<Kind, number> = { random: 0, mutated: 0, persist: 0, control: 0, 'raw-http2': 0 };
  readonly cases: Record<Kind, number> = { random: 0, mutated: 0, persist: 0, control: 0, 'raw-http2': 0 };
  controlCalls = 0;
  readonly statuses = new Map<string, number>();
  readonly rpmemCodes = new Map<string, number>();
  readonly anomalies: Anomaly[] = [];
  /** Every distinct error (method, status, details with numbers and names blanked), to spot odd answers. */
  readonly messages = new Map<string, number>();
  /** Acks seen on Persist streams, and ranges the daemon acked from a stream of only valid ranges. */
  acks = 0;
  validRangesAcked = 0;
  /** Streams of valid ranges the client ended that ended with an error, by code, each with its cause checked. */
  readonly excused = new Map<string, number>();
  maxInFlightSeen = 0;

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  static fmtMap(map: Map<string, number>): string {
    return [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }
}

/** An error's details with the variable parts (numbers, quoted names, paths, peers) blanked. */
function normalize(details: string): string {
  return details
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\/[^\s:]+/g, '/…')
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>')
    .replace(/\d+(\.\d+)?/g, '#')
    .replace(/pool \S+/g, 'pool …')
    .slice(0, 160);
}

/** Base64 kept per trace; past it frames are recorded by length and hash only (the seed regenerates them). */
const TRACE_BYTES = 1024 * 1024;

function keepFrame(trace: Trace, frame: Buffer): void {
  trace.keptBytes = (trace.keptBytes ?? 0) + frame.length;
  trace.frames.push(
    trace.keptBytes <= TRACE_BYTES
      ? frame.toString('base64')
      : `!omitted ${frame.length} bytes sha256=${crypto.createHash('sha256').update(frame).digest('hex').slice(0, 16)}`,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ends a bidi call the way its case chose: half-close, cancel, or half-close then cancel soon after; any other `end` leaves it be. */
async function endCall(rng: Rng, call: BidiCall, end: string): Promise<void> {
  if (end === 'half-close') call.end();
  else if (end === 'cancel') call.cancel();
  else if (end === 'half-close+cancel') {
    call.end();
    await sleep(rng.int(20));
    call.cancel();
  }
}

/** The decoded OpenResponse of a successful Open, or undefined. */
function openResult(out: CallOutcome, name: string): Writer | undefined {
  if (out.code !== 0 || out.messages.length === 0) return undefined;
  const res = decode('OpenResponse', out.messages[0]);
  const info = res?.info as { durableSeq?: string; poolSize?: string; epoch?: string; poolUuid?: Buffer } | undefined;
  if (res === undefined || typeof res.handle !== 'string' || info === undefined) return undefined;
  return {
    handle: res.handle,
    durableSeq: BigInt(info.durableSeq ?? '0'),
    poolSize: Number(info.poolSize ?? '0'),
    name,
    epoch: BigInt(info.epoch ?? '0'),
    uuid: info.poolUuid ?? Buffer.alloc(0),
  };
}

/** An opened pool handle as Open answered it. */
interface Writer {
  handle: string;
  durableSeq: bigint;
  poolSize: number;
  name: string;
  epoch: bigint;
  uuid: Buffer;
}

export class Fuzzer {
  readonly stats = new FuzzStats();
  private readonly clients: grpc.Client[] = [];
  private readonly retired: grpc.Client[] = [];
  private readonly callsStarted = new Map<grpc.Client, number>();
  private readonly sessions = new Map<number, http2.ClientHttp2Session>();
  private readonly state: FuzzState;
  private readonly weights: Record<Kind, number>;
  private inFlight = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly running = new Set<Trace>();
  private readonly recent: Trace[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private nextTraceId = 1;
  private stopAt = 0;
  private readonly t0 = Date.now();
  private gzipBomb?: Buffer;

  constructor(private readonly cfg: FuzzConfig) {
    this.weights = cfg.weights ?? DEFAULT_WEIGHTS;
    this.state = { handles: [], maxPoolBytes: cfg.maxPoolBytes, maxRangeBytes: cfg.maxRangeBytes };
    for (let i = 0; i < cfg.clients; i++) this.clients.push(newClient(cfg.address));
  }

  /** Runs the workers until the duration has passed (or stop()); resolves when every worker has returned. */
  async run(): Promise<void> {
    this.stopAt = Date.now() + this.cfg.durationMs;
    await Promise.all(Array.from({ length: this.cfg.workers }, (_, w) => this.worker(w)));
  }

  /** Makes every worker finish after its current case. */
  stop(): void {
    this.stopAt = 0;
  }

  /** Waits (bounded) for every call still in flight, e.g. background stalled readers. */
  async settle(maxMs: number): Promise<number> {
    const deadline = Date.now() + maxMs;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.pending]), sleep(Math.max(0, deadline - Date.now()))]);
    }
    return this.pending.size;
  }

  /** Closes every connection the fuzzer opened. */
  close(): void {
    for (const c of [...this.clients.splice(0), ...this.retired.splice(0)]) c.close();
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  /** The traces of cases in flight and the last ones finished, newest last. */
  traces(): Trace[] {
    return [...this.recent, ...this.running].sort((a, b) => a.id - b.id);
  }

  get ctx(): string {
    return `[${this.cfg.label} seed=0x${this.cfg.seed.toString(16)}]`;
  }

  // ---- plumbing ----

  private async worker(w: number): Promise<void> {
    const rng = new Rng(this.cfg.seed, this.cfg.stream * 1000 + w + 1);
    for (let i = 0; i < MAX_CASES_PER_WORKER && Date.now() < this.stopAt; i++) {
      const kind = rng.weighted(this.weights);
      const caseRng = rng.fork();
      const trace: Trace = {
        id: this.nextTraceId++,
        worker: w,
        case: i,
        caseSeed: [caseRng.seed, caseRng.stream],
        kind,
        transport: 'grpc',
        method: '',
        frames: [],
        startedMs: Date.now() - this.t0,
      };
      this.running.add(trace);
      this.stats.cases[kind]++;
      let timer: NodeJS.Timeout | undefined;
      const work = this.runCase(kind, caseRng, trace, w).catch((err: unknown) => {
        this.anomaly('harness error', err instanceof Error ? (err.stack ?? err.message) : String(err), trace);
      });
      const stuck = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.anomaly('case stuck', `${kind} case did not finish within ${CASE_LIMIT_MS} ms`, trace);
          resolve();
        }, CASE_LIMIT_MS);
      });
      await Promise.race([work, stuck]);
      clearTimeout(timer);
      this.running.delete(trace);
      this.recent.push(trace);
      if (this.recent.length > RECENT_TRACES) this.recent.shift();
    }
  }

  private anomaly(what: string, detail: string, trace?: Trace): void {
    if (this.stats.anomalies.length < 200)
      this.stats.anomalies.push({
        what,
        detail: `${this.ctx} ${detail}`,
        trace: trace === undefined ? undefined : { ...trace, frames: [...trace.frames] },
      });
  }

  private async slot(): Promise<void> {
    while (this.inFlight >= this.cfg.maxInFlight) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.inFlight++;
    this.stats.maxInFlightSeen = Math.max(this.stats.maxInFlightSeen, this.inFlight);
  }

  private unslot(): void {
    this.inFlight--;
    this.slotWaiters.shift()?.();
  }

  /** Runs `work` holding one in-flight slot, and tracks it until it settles. */
  private async inSlot<T>(work: () => Promise<T>): Promise<T> {
    await this.slot();
    const p = work();
    this.pending.add(p);
    try {
      return await p;
    } finally {
      this.pending.delete(p);
      this.unslot();
    }
  }

  /** A connection for `calls` new calls: now and then, or when `calls` would pass its budget, a new one. */
  private client(rng: Rng, calls = 1): grpc.Client {
    const i = rng.int(this.clients.length);
    if (rng.chance(0.01) || (this.callsStarted.get(this.clients[i]) ?? 0) + calls > CALLS_PER_CLIENT) {
      // Connection churn: drop one connection (its calls go on) and dial a new one.
      // Closed later: calls other workers are about to start on it must not find it shut down.
      const old = this.clients[i];
      this.retired.push(old);
      this.callsStarted.delete(old);
      setTimeout(() => {
        old.close();
        this.retired.splice(this.retired.indexOf(old), 1);
      }, 30_000).unref();
      this.clients[i] = newClient(this.cfg.address);
    }
    const client = this.clients[i];
    this.callsStarted.set(client, (this.callsStarted.get(client) ?? 0) + calls);
    return client;
  }

  private metadata(rng: Rng): grpc.Metadata {
    const md = new grpc.Metadata();
    if (rng.chance(0.1)) md.set('authorization', `Bearer ${rng.bytes(rng.int(40)).toString('hex')}`);
    if (rng.chance(0.05)) md.set('x-fuzz', rng.bytes(rng.int(2048)).toString('hex'));
    if (rng.chance(0.03)) md.set('x-fuzz-bin', rng.bytes(rng.int(512)));
    return md;
  }

  /** Records a call's outcome and flags answers a correct daemon never gives. */
  private record(out: CallOutcome, trace: Trace, method: string): CallOutcome {
    this.stats.count(this.stats.statuses, STATUS_NAME[out.code] ?? `code${out.code}`);
    if (out.rpmemCode !== undefined) this.stats.count(this.stats.rpmemCodes, out.rpmemCode);
    if (out.code !== 0)
      this.stats.count(
        this.stats.messages,
        `${method.slice(method.lastIndexOf('/') + 1)} ${STATUS_NAME[out.code]} ${normalize(out.details)}`,
      );
    if (out.rpmemCode === 'RPMEM_E_INTERNAL') this.anomaly('RPMEM_E_INTERNAL', `${method}: ${out.details}`, trace);
    if (out.code === grpc.status.UNKNOWN && !out.local) this.anomaly('UNKNOWN status', `${method}: ${out.details}`, trace);
    if (out.rpmemCode === 'RPMEM_E_LIMIT' && /max-streams/.test(out.details) && this.cfg.maxInFlight < this.cfg.maxStreams) {
      // The fuzzer never holds max-streams calls open: reaching it means the daemon kept streams that ended.
      this.anomaly('max-streams reached', `${method}: ${out.details} with at most ${this.cfg.maxInFlight} calls in flight`, trace);
    }
    return out;
  }

  private addHandle(h: { handle: string; name: string; durableSeq: bigint; poolSize: number }): void {
    this.state.handles.push(h);
    if (this.state.handles.length > MAX_HANDLES) this.state.handles.shift();
  }

  private dropHandle(handle: string): void {
    const i = this.state.handles.findIndex((h) => h.handle === handle);
    if (i >= 0) this.state.handles.splice(i, 1);
  }

  private async unary(rng: Rng, trace: Trace, method: string, frame: Buffer, deadlineMs = UNARY_DEADLINE_MS): Promise<CallOutcome> {
    keepFrame(trace, frame);
    const client = this.client(rng);
    const out = await this.inSlot(() => unaryCall(client, method, frame, deadlineMs, this.metadata(rng)));
    if (out.code === grpc.status.DEADLINE_EXCEEDED && out.local && deadlineMs >= UNARY_DEADLINE_MS && method.startsWith(SVC)) {
      this.anomaly('unary hang', `${method} not answered within ${deadlineMs} ms`, trace);
    }
    return this.record(out, trace, method);
  }

  private async serverStream(rng: Rng, trace: Trace, method: string, frame: Buffer, keep = false): Promise<CallOutcome> {
    keepFrame(trace, frame);
    const client = this.client(rng);
    const r = rng.float();
    const opts = {
      deadlineMs: rng.range(500, 8000),
      keep,
      cancelAfterMs: r < 0.2 ? rng.int(200) : undefined,
      slowReader: r >= 0.2 && r < 0.3,
      metadata: this.metadata(rng),
    };
    if (opts.slowReader) opts.cancelAfterMs = rng.range(50, 1500);
    trace.end = opts.slowReader
      ? `slow reader, cancel after ${opts.cancelAfterMs} ms`
      : opts.cancelAfterMs !== undefined
        ? `cancel after ${opts.cancelAfterMs} ms`
        : 'read all';
    const out = await this.inSlot(() => serverStreamCall(client, method, frame, opts));
    return this.record(out, trace, method);
  }

  // ---- cases ----

  private async runCase(kind: Kind, rng: Rng, trace: Trace, w: number): Promise<void> {
    switch (kind) {
      case 'random':
        return this.randomCase(rng, trace);
      case 'mutated':
        return this.mutatedCase(rng, trace);
      case 'persist':
        return this.persistCase(rng, trace);
      case 'control':
        return this.controlCase(rng, trace);
      case 'raw-http2':
        return this.rawCase(rng, trace, w);
    }
  }

  /** Random bytes as the message(s) of a random method, known or not, sometimes with the wrong call type. */
  private async randomCase(rng: Rng, trace: Trace): Promise<void> {
    const m: Method = rng.chance(0.75) ? rng.pick(TARGET_METHODS) : rng.pick(OTHER_PATHS);
    const callType = rng.chance(0.9) ? m.callType : rng.pick(['unary', 'server-stream', 'bidi'] as const);
    trace.method = m.path;
    trace.callType = callType;
    const max = this.cfg.maxRangeBytes * 2;
    if (callType === 'unary') {
      this.stats.frames.random++;
      await this.unary(rng, trace, m.path, randomBytes(rng, max), rng.range(200, 5000));
    } else if (callType === 'server-stream') {
      this.stats.frames.random++;
      await this.serverStream(rng, trace, m.path, randomBytes(rng, max));
    } else {
      const frames = Array.from({ length: rng.int(5) }, () => randomBytes(rng, max));
      await this.bidi(rng, trace, m.path, frames, 'random');
    }
  }

  /** A valid encoding of the method's request, mutated at the wire level. */
  private async mutatedCase(rng: Rng, trace: Trace): Promise<void> {
    const m = rng.pick(TARGET_METHODS);
    const otherType = rng.pick(TARGET_METHODS).request!;
    const valid = (): Buffer => encode(m.request!, randomRequest(rng, m.request!, this.state));
    const other = encode(otherType, randomRequest(rng, otherType, this.state));
    trace.method = m.path;
    trace.callType = m.callType;
    if (m.callType === 'unary') {
      this.stats.frames.mutated++;
      await this.unary(rng, trace, m.path, mutate(rng, valid(), other), rng.range(500, 5000));
    } else if (m.callType === 'server-stream') {
      this.stats.frames.mutated++;
      await this.serverStream(rng, trace, m.path, mutate(rng, valid(), other));
    } else {
      // Persist: sometimes a real writer's start first, so the mutations reach the batch path.
      const frames: Buffer[] = [];
      const writer = rng.chance(0.5) ? await this.openWriter(rng, trace) : undefined;
      if (writer !== undefined) frames.push(encode('PersistRequest', { start: randomStart(rng, this.state, writer.handle) }));
      else if (rng.chance(0.5)) frames.push(encode('PersistRequest', { start: randomStart(rng, this.state) }));
      for (let i = rng.range(1, 4); i > 0; i--) {
        const seq = writer === undefined ? 1n : writer.durableSeq + 1n;
        const batch = encode('PersistRequest', { batch: randomBatch(rng, this.state, seq, writer?.poolSize ?? HEADER_BYTES + 65536) });
        frames.push(mutate(rng, batch, other));
      }
      await this.bidi(rng, trace, m.path, frames, 'mutated');
      if (writer !== undefined && rng.chance(0.5)) await this.closeHandle(rng, trace, writer.handle);
    }
  }

  /** Sends `frames` on a bidi call, then half-closes, cancels, or lets the deadline end it. */
  private async bidi(rng: Rng, trace: Trace, path: string, frames: Buffer[], kind: Kind): Promise<CallOutcome> {
    const client = this.client(rng);
    const end = rng.weighted({ 'half-close': 50, cancel: 25, deadline: 10, 'half-close+cancel': 15 });
    trace.end = end;
    return this.inSlot(async () => {
      const call = new BidiCall(client, path, end === 'deadline' ? rng.range(200, 3000) : rng.range(2000, 10000), this.metadata(rng));
      const cancelAt = rng.int(frames.length + 1);
      for (let i = 0; i < frames.length && !call.done; i++) {
        if (end === 'cancel' && i === cancelAt) break;
        keepFrame(trace, frames[i]);
        this.stats.frames[kind]++;
        await call.write(frames[i]);
        if (rng.chance(0.1)) await sleep(rng.int(30));
      }
      await endCall(rng, call, end);
      return this.record(await call.outcome, trace, path);
    });
  }

  /** Creates (if needed) and opens a fuzz pool for writing; undefined when it cannot (busy, limits...). */
  private async openWriter(rng: Rng, trace: Trace): Promise<Writer | undefined> {
    const name = rng.chance(0.8) ? rng.pick(PERSIST_POOL_NAMES) : rng.pick(FUZZ_POOL_NAMES);
    if (rng.chance(0.7)) {
      const size = rng.pick([HEADER_BYTES + 65536, HEADER_BYTES + 1024 * 1024]);
      this.stats.controlCalls++;
      await this.unary(rng, trace, `${SVC}Create`, encode('CreateRequest', { protocolVersion: 1, name, poolSize: String(size) }));
    }
    this.stats.controlCalls++;
    const out = await this.unary(rng, trace, `${SVC}Open`, encode('OpenRequest', { protocolVersion: 1, name, mode: 0 }));
    const opened = openResult(out, name);
    if (opened !== undefined) this.addHandle(opened);
    return opened;
  }

  /** Creates (if it can) a pool of over 16 MiB and opens it read-only, for reads that push back. */
  private async openBig(rng: Rng, trace: Trace): Promise<Writer | undefined> {
    const name = rng.pick(['fz-a', 'fz-b', 'fz-c']);
    const size = HEADER_BYTES + rng.range(17, 30) * 1024 * 1024;
    this.stats.controlCalls += 2;
    await this.unary(rng, trace, `${SVC}Create`, encode('CreateRequest', { protocolVersion: 1, name, poolSize: String(size) }));
    const opened = openResult(
      await this.unary(rng, trace, `${SVC}Open`, encode('OpenRequest', { protocolVersion: 1, name, mode: 1 })),
      name,
    );
    if (opened !== undefined) this.addHandle(opened);
    return opened;
  }

  private async closeHandle(rng: Rng, trace: Trace, handle: string): Promise<void> {
    this.stats.controlCalls++;
    const out = await this.unary(rng, trace, `${SVC}Close`, encode('CloseRequest', { handle }));
    if (out.code === 0 || out.rpmemCode === 'RPMEM_E_BAD_HANDLE') this.dropHandle(handle);
  }

  /**
   * A Persist stream: a valid or garbage PersistStart, then valid, invalid and mutated batches, then
   * a half-close, a cancel or nothing. When every range sent was valid the stream must end OK and
   * ack them all; no ack may ever pass the last valid range sent.
   */
  private async persistCase(rng: Rng, trace: Trace): Promise<void> {
    trace.method = `${SVC}Persist`;
    trace.callType = 'bidi';
    const startKind = rng.weighted({ writer: 60, 'read-only': 8, stale: 12, garbage: 10, 'no-start': 10 });
    let writer: Writer | undefined;
    if (startKind === 'writer') writer = await this.openWriter(rng, trace);
    if (startKind === 'read-only') {
      const name = rng.pick(FUZZ_POOL_NAMES);
      this.stats.controlCalls++;
      const opened = openResult(
        await this.unary(rng, trace, `${SVC}Open`, encode('OpenRequest', { protocolVersion: 1, name, mode: 1 })),
        name,
      );
      if (opened !== undefined) this.addHandle(opened);
      writer = opened;
    }
    // Each frame is known valid, known invalid, or unknown (random or mutated: could be either).
    type Validity = 'valid' | 'invalid' | 'unknown';
    const frames: { frame: Buffer; lastSeq?: bigint; validity: Validity }[] = [];
    let validStart = false;
    if (writer !== undefined && startKind === 'writer' && rng.chance(0.9)) {
      const epoch = rng.chance(0.8) ? '0' : rng.pick(['0', '1', '2', String(rng.int(100)), rng.u64()]);
      frames.push({
        frame: encode('PersistRequest', { start: { protocolVersion: 1, handle: writer.handle, epoch } }),
        validity: epoch === '0' ? 'valid' : 'unknown',
      });
      validStart = epoch === '0';
    } else if (writer !== undefined) {
      frames.push({ frame: encode('PersistRequest', { start: randomStart(rng, this.state, writer.handle) }), validity: 'unknown' });
    } else if (startKind === 'garbage') {
      frames.push({
        frame: rng.chance(0.5) ? randomBytes(rng, 256) : encode('PersistRequest', { start: randomStart(rng, this.state) }),
        validity: 'unknown',
      });
    } else if (startKind === 'stale') {
      frames.push({ frame: encode('PersistRequest', { start: randomStart(rng, this.state) }), validity: 'unknown' });
    }
    const poolSize = writer?.poolSize ?? HEADER_BYTES + 65536;
    let seq = (writer?.durableSeq ?? 0n) + 1n;
    // clean: only valid ranges (the happy path under load); mostly: a rare bad frame; hostile: many.
    const style = rng.weighted({ clean: 35, mostly: 40, hostile: 25 });
    const badFrame = style === 'clean' ? 0 : style === 'mostly' ? 0.05 : 0.4;
    for (let n = rng.range(style === 'hostile' ? 0 : 1, rng.pick([4, 16, 64])); n > 0; n--) {
      const r = rng.chance(badFrame) ? 0.6 + rng.float() * 0.4 : rng.float() * 0.6;
      if (r < 0.75) {
        // Ranges at the right seq, each valid or broken in one way; nothing after the first broken one counts.
        // lastSeq: the last valid range of the frame (the daemon takes the ranges before a bad one).
        const ranges = [];
        let ok = true;
        const keepBad = r < 0.6 ? 0 : 1;
        for (let i = rng.range(r < 0.6 ? 1 : 0, 8); i > 0; i--) {
          const { range, valid } = randomRange(rng, seq, poolSize, this.cfg.maxRangeBytes);
          if (!valid && !rng.chance(keepBad)) continue;
          ranges.push(range);
          if (!valid) {
            ok = false;
            break;
          }
          seq++;
        }
        frames.push({ frame: encode('PersistRequest', { batch: { ranges } }), lastSeq: seq - 1n, validity: ok ? 'valid' : 'invalid' });
      } else if (r < 0.88) {
        const other = encode('PersistRequest', { start: randomStart(rng, this.state) });
        frames.push({
          frame: mutate(rng, encode('PersistRequest', { batch: randomBatch(rng, this.state, seq, poolSize) }), other),
          validity: 'unknown',
        });
      } else if (r < 0.9) {
        // Many tiny ranges (issue #10): at max-batch-ranges the batch is taken, past it refused with RPMEM_E_LIMIT undecoded.
        const count = rng.chance(0.1) ? TINY_FLOOD_RANGES : rng.pick([1, DEFAULT_MAX_BATCH_RANGES, DEFAULT_MAX_BATCH_RANGES + 1]);
        const taken = count <= DEFAULT_MAX_BATCH_RANGES;
        frames.push({
          frame: tinyRangesBatch(seq, count, poolSize),
          lastSeq: taken ? seq + BigInt(count) - 1n : seq - 1n,
          validity: taken ? 'valid' : 'invalid',
        });
        if (taken) seq += BigInt(count);
      } else if (r < 0.94) {
        // A second PersistStart is always refused.
        frames.push({
          frame: encode('PersistRequest', { start: randomStart(rng, this.state, writer?.handle) }),
          lastSeq: seq - 1n,
          validity: validStart ? 'invalid' : 'unknown',
        });
      } else {
        frames.push({ frame: randomBytes(rng, 1024), validity: 'unknown' });
      }
    }
    // The valid prefix: its last seq bounds every ack (unless an unknown frame came first); what follows it decides how the stream may end.
    let ackBound = validStart ? (writer?.durableSeq ?? 0n) : -1n;
    let after: Validity | 'none' = 'none';
    if (validStart) {
      for (const f of frames.slice(1)) {
        if (f.validity !== 'unknown') ackBound = f.lastSeq ?? ackBound;
        if (f.validity !== 'valid') {
          after = f.validity;
          break;
        }
      }
    }
    const allValid = validStart && after === 'none';
    const end = rng.weighted({ 'half-close': 55, cancel: 20, idle: 10, 'half-close+cancel': 10, 'close-handle': 5 });
    trace.end = end;
    const clientEnded = end === 'half-close' || end === 'close-handle';
    // Valid ranges and an end from the client: the stream must end, so its deadline is the hang bound.
    const mustEnd = allValid && clientEnded;
    let maxGapMs = 0;
    trace.note =
      writer === undefined
        ? `${startKind} ${style}`
        : `${startKind} ${style} handle=${writer.handle} pool=${writer.name} durableSeq=${writer.durableSeq}`;
    const client = this.client(rng);
    const out = await this.inSlot(async () => {
      const deadlineMs = end === 'idle' ? rng.range(500, 4000) : rng.range(3000, 15000);
      const call = new BidiCall(client, trace.method, mustEnd ? PERSIST_HANG_MS : deadlineMs, this.metadata(rng));
      const cancelAt = rng.int(frames.length + 1);
      let sentAt = Date.now();
      for (let i = 0; i < frames.length && !call.done; i++) {
        if (end === 'cancel' && i === cancelAt) break;
        keepFrame(trace, frames[i].frame);
        this.stats.frames.persist++;
        await call.write(frames[i].frame);
        maxGapMs = Math.max(maxGapMs, Date.now() - sentAt);
        sentAt = Date.now();
        if (rng.chance(0.05)) await sleep(rng.int(50));
      }
      await endCall(rng, call, end);
      if (end === 'close-handle' && writer !== undefined) {
        // Close the handle under the stream: must be refused (BUSY) once the stream holds it (it has acked).
        await sleep(rng.int(20));
        const attached = call.received.length > 0;
        this.stats.controlCalls++;
        const closed = this.record(
          await unaryCall(client, `${SVC}Close`, encode('CloseRequest', { handle: writer.handle }), UNARY_DEADLINE_MS),
          trace,
          `${SVC}Close`,
        );
        if (closed.code === 0 && attached && !call.done)
          this.anomaly('closed under a stream', `Close of handle ${writer.handle} succeeded while its Persist stream was open`, trace);
        call.end();
      }
      return this.record(await call.outcome, trace, trace.method);
    });
    const acks = out.messages.map((m) => decode('PersistAck', m)).map((a) => BigInt((a?.durableSeq as string | undefined) ?? '-1'));
    this.stats.acks += acks.length;
    for (let i = 1; i < acks.length; i++) {
      if (acks[i] <= acks[i - 1]) this.anomaly('ack not increasing', `acks ${acks.slice(Math.max(0, i - 3), i + 1).join(',')}`, trace);
    }
    const last = acks.length > 0 ? acks[acks.length - 1] : undefined;
    if (validStart && writer !== undefined && last !== undefined && after !== 'unknown') {
      if (last > ackBound)
        this.anomaly(
          'acked an invalid range',
          `last ack ${last} passes the last valid seq ${ackBound} (pool ${writer.name}, first seq ${writer.durableSeq + 1n})`,
          trace,
        );
      else this.stats.validRangesAcked += Number(last - writer.durableSeq);
    }
    if (mustEnd && out.code === grpc.status.DEADLINE_EXCEEDED && out.local) {
      this.anomaly(
        'persist hang',
        `stream of valid ranges, ended by the client, not ended within ${PERSIST_HANG_MS} ms (acks ${acks.length}, last ${last ?? 'none'}, expected ${ackBound})`,
        trace,
      );
    } else if (mustEnd && writer !== undefined && out.code !== 0 && !out.local) {
      const cause = await this.causeOf(rng, trace, out, writer, acks.length > 0, maxGapMs);
      if (cause === undefined)
        this.anomaly(
          'valid stream refused',
          `${STATUS_NAME[out.code]} ${out.rpmemCode ?? ''}: ${out.details} (acks ${acks.length}, longest gap between writes ${maxGapMs} ms)`,
          trace,
        );
      else this.stats.count(this.stats.excused, `${out.rpmemCode}(${cause})`);
    }
    if (allValid && end === 'half-close' && out.code === 0 && writer !== undefined && ackBound > writer.durableSeq && last !== ackBound) {
      this.anomaly('valid ranges not acked', `stream ended OK with last ack ${last ?? 'none'}, expected ${ackBound}`, trace);
    }
    if (after === 'invalid' && clientEnded && out.code === 0) {
      // An OK end after a known-invalid frame would mean the daemon took (or silently skipped) it.
      this.anomaly(
        'invalid stream ended OK',
        `stream with an invalid frame after seq ${ackBound} ended OK (acks ${acks.length}, last ${last})`,
        trace,
      );
    }
    if (writer !== undefined && rng.chance(0.3)) await this.closeHandle(rng, trace, writer.handle);
  }

  /**
   * Why a stream of valid ranges its client ended may still fail, each checked against its cause:
   * a fence by another worker (the pool's epoch rose, or a claimant took the pool), its handle closed or expired (a Close of it
   * is refused), the idle timer (the client really paused that long), or an admission refusal
   * (stream limits, another stream holds the handle) before anything was acked. Undefined: no cause.
   */
  private async causeOf(
    rng: Rng,
    trace: Trace,
    out: CallOutcome,
    writer: Writer,
    acked: boolean,
    maxGapMs: number,
  ): Promise<string | undefined> {
    switch (out.rpmemCode) {
      case 'RPMEM_E_FENCED': {
        this.stats.controlCalls++;
        const stat = await this.unary(rng, trace, `${SVC}Stat`, encode('StatRequest', { protocolVersion: 1, name: writer.name }));
        if (stat.rpmemCode === 'RPMEM_E_NO_POOL') return 'pool removed';
        const info = stat.code === 0 ? decode('PoolInfo', stat.messages[0] ?? Buffer.alloc(0)) : undefined;
        if (info === undefined) return undefined;
        if (!writer.uuid.equals((info.poolUuid as Buffer | undefined) ?? Buffer.alloc(0))) return 'pool re-created';
        if (BigInt((info.epoch as string | undefined) ?? '0') > writer.epoch) return 'epoch raised';
        // These streams start at epoch 0, a plain writer, which a pool some primary claimed refuses.
        return (info.claimant as Buffer | undefined)?.some((b) => b !== 0) ? 'pool claimed' : undefined;
      }
      case 'RPMEM_E_BAD_HANDLE': {
        this.stats.controlCalls++;
        const closed = await this.unary(rng, trace, `${SVC}Close`, encode('CloseRequest', { handle: writer.handle }));
        if (closed.code === 0) this.dropHandle(writer.handle);
        return closed.rpmemCode === 'RPMEM_E_BAD_HANDLE' ? 'handle gone' : undefined;
      }
      case 'RPMEM_E_TIMEOUT':
        return maxGapMs >= this.cfg.idleStreamMs / 2 ? 'client idle' : undefined;
      case 'RPMEM_E_BUSY':
        return acked ? undefined : 'handle taken';
      case 'RPMEM_E_LIMIT':
        return !acked && /stream/.test(out.details) ? 'stream limits' : undefined;
      default:
        return undefined;
    }
  }

  /** A random sequence of control calls (some concurrent), checking the answers that are checkable. */
  private async controlCase(rng: Rng, trace: Trace): Promise<void> {
    if (rng.chance(0.05)) return this.streamFlood(rng, trace);
    trace.method = 'control-sequence';
    const calls = rng.range(1, 12);
    for (let i = 0; i < calls; i++) {
      const parallel = rng.chance(0.15) ? rng.range(2, 4) : 1;
      await Promise.all(Array.from({ length: parallel }, () => this.controlCall(rng, trace)));
    }
  }

  /**
   * One peer flooding streams (issue #10): a burst of idle Persist streams on one connection, each
   * cancelled after a while. Each holds an in-flight slot, so the fuzzer still never holds
   * max-streams open; a refusal may only be a limit, an end only the idle timer.
   */
  private async streamFlood(rng: Rng, trace: Trace): Promise<void> {
    trace.method = `${SVC}Persist`;
    trace.note = 'stream flood';
    const streams = rng.range(8, 48);
    const client = this.client(rng, streams);
    const outcomes = await Promise.all(
      Array.from({ length: streams }, () =>
        this.inSlot(async () => {
          this.stats.controlCalls++;
          const call = new BidiCall(client, trace.method, rng.range(1000, 5000), this.metadata(rng));
          await sleep(rng.int(500));
          call.cancel();
          return this.record(await call.outcome, trace, trace.method);
        }),
      ),
    );
    for (const out of outcomes) {
      if (!out.local && !['RPMEM_E_LIMIT', 'RPMEM_E_TIMEOUT'].includes(out.rpmemCode ?? '')) {
        this.anomaly('idle stream refused oddly', `${STATUS_NAME[out.code]} ${out.rpmemCode ?? ''}: ${out.details}`, trace);
      }
    }
  }

  private async controlCall(rng: Rng, trace: Trace): Promise<void> {
    const m = rng.weighted({
      Create: 14,
      Open: 14,
      Close: 10,
      Remove: 8,
      Stat: 10,
      List: 3,
      SetAttr: 6,
      Fence: 6,
      SetSyncState: 6,
      Checksums: 8,
      Read: 12,
    });
    const type = `${m}Request`;
    const req = randomRequest(rng, type, this.state);
    let closeUnder: string | undefined;
    if ((m === 'Read' || m === 'Checksums') && rng.chance(0.3) && this.state.handles.length > 0) {
      // Sometimes the whole pool: big reads push back (the slow reader then stalls the daemon's writes),
      // and sometimes the handle is closed while the stream runs.
      const h = rng.pick(this.state.handles);
      Object.assign(req, { handle: h.handle, offset: String(HEADER_BYTES), length: String(Math.max(0, h.poolSize - HEADER_BYTES)) });
      if (m === 'Checksums' && rng.chance(0.5)) req.blockBytes = 2 ** rng.range(12, 16);
      if (rng.chance(0.3)) closeUnder = h.handle;
    }
    const frame = encode(type, req);
    const path = `${SVC}${m}`;
    this.stats.controlCalls++;
    this.stats.frames.control++;
    if (m === 'Read' || m === 'Checksums') {
      const length = Number(req.length);
      const stream = this.serverStream(rng, trace, path, frame, length <= 4 * 1024 * 1024);
      if (closeUnder !== undefined) {
        await sleep(rng.int(20));
        await this.closeHandle(rng, trace, closeUnder);
      }
      const out = await stream;
      if (out.code === 0 && !out.local && out.messages.length === out.received) this.checkStream(m, req, out, trace);
      return;
    }
    const out = await this.unary(rng, trace, path, frame);
    const name = req.name as string | undefined;
    if (out.code === 0) {
      if ((m === 'Create' || m === 'Open' || m === 'Stat' || m === 'Remove' || m === 'Fence') && !NAME_PATTERN.test(name ?? '')) {
        this.anomaly('bad name accepted', `${m} of ${JSON.stringify(name)} answered OK`, trace);
      }
      if (m === 'Create') {
        const size = Number(req.poolSize);
        if (!(Number.isSafeInteger(size) && size > HEADER_BYTES && size <= this.cfg.maxPoolBytes))
          this.anomaly('bad size accepted', `Create of ${req.poolSize} bytes answered OK`, trace);
      }
      if (
        (m === 'Create' || m === 'Open' || m === 'Stat' || m === 'Remove' || m === 'Fence' || m === 'List') &&
        req.protocolVersion !== 1
      ) {
        this.anomaly('bad protocol version accepted', `${m} with protocol_version ${req.protocolVersion} answered OK`, trace);
      }
      if (m === 'Stat' || m === 'Create' || m === 'Fence') {
        const info = decode('PoolInfo', out.messages[0] ?? Buffer.alloc(0));
        if (info === undefined || info.name !== name)
          this.anomaly('wrong PoolInfo', `${m} of ${name} answered ${JSON.stringify(info?.name)}`, trace);
      }
      if (m === 'Open' && name !== undefined) {
        const opened = openResult(out, name);
        if (opened === undefined) this.anomaly('bad OpenResponse', `Open of ${name} answered OK without a handle`, trace);
        else this.addHandle(opened);
      }
      if (m === 'Close') this.dropHandle(req.handle as string);
    } else if (m === 'Close' && out.rpmemCode === 'RPMEM_E_BAD_HANDLE') {
      this.dropHandle(req.handle as string);
    }
  }

  /** Read returns exactly `length` bytes; Checksums one digest per block. */
  private checkStream(m: string, req: Record<string, unknown>, out: CallOutcome, trace: Trace): void {
    const length = Number(req.length);
    if (m === 'Read') {
      const got = out.messages.reduce((n, msg) => n + ((decode('ReadChunk', msg)?.data as Buffer | undefined)?.length ?? 0), 0);
      if (got !== length) this.anomaly('short read', `Read of ${length} bytes returned ${got}`, trace);
    } else {
      const block = Number(req.blockBytes);
      const got = out.messages.reduce((n, msg) => n + ((decode('ChecksumsChunk', msg)?.digests as Buffer[] | undefined)?.length ?? 0), 0);
      if (got !== Math.ceil(length / block))
        this.anomaly('wrong digest count', `Checksums of ${length} bytes in ${block}-byte blocks returned ${got} digests`, trace);
    }
  }

  // ---- raw HTTP/2 ----

  private session(rng: Rng, w: number, fresh: boolean, settings?: http2.Settings): http2.ClientHttp2Session {
    const make = (): http2.ClientHttp2Session => {
      const s = http2.connect(`http://${this.cfg.address}`, settings === undefined ? {} : { settings });
      s.on('error', () => undefined);
      s.on('goaway', () => undefined);
      return s;
    };
    if (fresh || settings !== undefined) return make();
    let s = this.sessions.get(w);
    if (s === undefined || s.closed || s.destroyed || rng.chance(0.02)) {
      s?.destroy();
      s = make();
      this.sessions.set(w, s);
    }
    return s;
  }

  /** Broken gRPC framing and headers over node:http2, and garbage over raw TCP. */
  private async rawCase(rng: Rng, trace: Trace, w: number): Promise<void> {
    trace.transport = 'http2';
    const variant = rng.weighted({
      'short-body': 8,
      'compressed-no-encoding': 6,
      'compressed-bad-body': 6,
      'unsupported-encoding': 4,
      'gzip-bomb': 2,
      'huge-declared': 6,
      'partial-then-hold': 5,
      'wrong-content-type': 6,
      'wrong-method': 4,
      'bad-timeout': 4,
      'rst-mid': 8,
      'two-messages-unary': 5,
      'garbage-body': 8,
      'many-empty-frames': 4,
      'headers-only': 5,
      'big-headers': 3,
      'session-destroy': 4,
      'stalled-read': 4,
      'raw-tcp': 4,
    });
    trace.note = variant;
    if (variant === 'raw-tcp') return this.rawTcp(rng, trace);
    const method = rng.chance(0.8) ? rng.pick(TARGET_METHODS) : rng.pick(OTHER_PATHS);
    trace.method = method.path;
    const valid =
      method.request !== undefined ? encode(method.request, randomRequest(rng, method.request, this.state)) : randomBytes(rng, 128);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': method.path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    let chunks: Buffer[] = [];
    let endStream = true;
    let rstAfter: number | undefined;
    let settings: http2.Settings | undefined;
    switch (variant) {
      case 'short-body':
        chunks = [grpcFrame(valid, 0, valid.length + rng.range(1, 1000)).subarray(0, 5 + rng.int(valid.length + 1))];
        break;
      case 'compressed-no-encoding':
        chunks = [grpcFrame(valid, 1)];
        break;
      case 'compressed-bad-body':
        headers['grpc-encoding'] = rng.pick(['gzip', 'deflate']);
        chunks = [grpcFrame(rng.chance(0.5) ? valid : zlib.gzipSync(valid).subarray(0, rng.int(20)), 1)];
        break;
      case 'unsupported-encoding':
        headers['grpc-encoding'] = rng.pick(['snappy', 'br', 'identity, gzip', '', 'x'.repeat(100)]);
        chunks = [grpcFrame(valid, rng.int(2))];
        break;
      case 'gzip-bomb':
        // 64 MiB of zeros in ~64 KiB: the daemon must stop inflating at its message limit.
        this.gzipBomb ??= zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
        headers['grpc-encoding'] = 'gzip';
        chunks = [grpcFrame(this.gzipBomb, 1)];
        break;
      case 'huge-declared':
        chunks = [
          grpcFrame(valid, rng.int(2), rng.pick([0xffffffff, 0x7fffffff, 64 * 1024 * 1024, 2 * this.cfg.maxRangeBytes + 1024 * 1024 + 1])),
        ];
        break;
      case 'partial-then-hold':
        // Declares a large (allowed) message, sends part of it and holds the stream until the RST.
        chunks = [grpcFrame(rng.bytes(rng.int(65536)), 0, 2 * this.cfg.maxRangeBytes)];
        endStream = false;
        rstAfter = rng.range(100, 3000);
        break;
      case 'wrong-content-type':
        if (rng.chance(0.3)) delete headers['content-type'];
        else
          headers['content-type'] = rng.pick([
            'text/plain',
            'application/json',
            'application/grpc+json',
            'application/grpcx',
            'application/grpc-web',
            '',
          ]);
        chunks = [grpcFrame(valid)];
        break;
      case 'wrong-method':
        headers[':method'] = rng.pick(['GET', 'PUT', 'HEAD', 'OPTIONS', 'DELETE']);
        chunks = headers[':method'] === 'GET' || headers[':method'] === 'HEAD' ? [] : [grpcFrame(valid)];
        break;
      case 'bad-timeout':
        headers['grpc-timeout'] = rng.pick(['abc', '1n', '99999999H', '-1S', '0S', '100000000000m', '1', 'S', '5u']);
        chunks = [grpcFrame(valid)];
        break;
      case 'rst-mid': {
        const whole = grpcFrame(valid);
        chunks = [whole.subarray(0, rng.int(whole.length))];
        endStream = false;
        rstAfter = rng.int(50);
        break;
      }
      case 'two-messages-unary':
        chunks = [grpcFrame(valid), grpcFrame(valid)];
        break;
      case 'garbage-body':
        chunks = [randomBytes(rng, 4096)];
        break;
      case 'many-empty-frames':
        chunks = [Buffer.concat(Array<Buffer>(rng.pick([10, 100, 1000])).fill(grpcFrame(Buffer.alloc(0))))];
        break;
      case 'headers-only':
        chunks = [];
        break;
      case 'big-headers':
        for (let i = rng.range(1, 20); i > 0; i--) headers[`x-fuzz-${i}`] = 'v'.repeat(rng.int(4000));
        if (rng.chance(0.5)) headers['grpc-encoding'] = rng.bytes(8).toString('hex');
        if (rng.chance(0.5)) headers['grpc-accept-encoding'] = 'x'.repeat(rng.int(1000));
        chunks = [grpcFrame(valid)];
        break;
      case 'session-destroy':
        chunks = [grpcFrame(valid)];
        endStream = rng.chance(0.5);
        break;
      case 'stalled-read': {
        // A Read of a whole pool on a stream whose window is 0: the daemon's writes back up, then the client resets.
        // Big pools (over 16 one-MiB chunks) fill the daemon's stream buffer, so its write() says "wait for drain".
        const big = this.state.handles.filter((x) => x.poolSize > 16 * 1024 * 1024 + HEADER_BYTES);
        let h =
          big.length > 0 && rng.chance(0.8) ? rng.pick(big) : this.state.handles.length > 0 ? rng.pick(this.state.handles) : undefined;
        if (big.length === 0 && rng.chance(0.5)) h = (await this.openBig(rng, trace)) ?? h;
        trace.method = `${SVC}Read`;
        headers[':path'] = trace.method;
        const req =
          h === undefined
            ? { handle: randomHandle(rng, this.state), offset: String(HEADER_BYTES), length: '65536' }
            : { handle: h.handle, offset: String(HEADER_BYTES), length: String(h.poolSize - HEADER_BYTES) };
        chunks = [grpcFrame(encode('ReadRequest', req))];
        settings = { initialWindowSize: rng.pick([0, 0, 1024, 65535]) };
        rstAfter = rng.range(200, 3000);
        break;
      }
    }
    trace.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)]));
    trace.frames = [];
    for (const c of chunks) keepFrame(trace, c);
    trace.end =
      rstAfter !== undefined
        ? `RST after ${rstAfter} ms`
        : variant === 'session-destroy'
          ? 'session destroy'
          : endStream
            ? 'end stream'
            : 'hold';
    const fresh = variant === 'session-destroy' || settings !== undefined || rng.chance(0.5);
    const session = this.session(rng, w, fresh, settings);
    this.stats.frames['raw-http2'] += Math.max(1, chunks.length);
    const status = await this.inSlot(() =>
      this.rawRequest(rng, session, headers, chunks, endStream, rstAfter, variant === 'session-destroy'),
    );
    if (fresh) session.destroy();
    this.stats.count(this.stats.statuses, status.grpc ?? status.other);
    if (status.rpmemCode !== undefined) this.stats.count(this.stats.rpmemCodes, status.rpmemCode);
    if (status.rpmemCode === 'RPMEM_E_INTERNAL') this.anomaly('RPMEM_E_INTERNAL', `raw ${variant} on ${trace.method}`, trace);
    if (status.grpc === 'UNKNOWN') this.anomaly('UNKNOWN status', `raw ${variant} on ${trace.method}`, trace);
  }

  /** Sends one raw request; resolves with the grpc-status it got (or how it ended otherwise), within 5 s. */
  private rawRequest(
    rng: Rng,
    session: http2.ClientHttp2Session,
    headers: http2.OutgoingHttpHeaders,
    chunks: Buffer[],
    endStream: boolean,
    rstAfter: number | undefined,
    destroySession: boolean,
  ): Promise<{ grpc?: string; other: string; rpmemCode?: string }> {
    return new Promise((resolve) => {
      let settled = false;
      const result: { grpc?: string; other: string; rpmemCode?: string } = { other: 'RAW_NO_STATUS' };
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        resolve(result);
      };
      const guard = setTimeout(() => {
        result.other = 'RAW_TIMEOUT';
        if (req !== undefined && !req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
        finish();
      }, 5000);
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request(headers, { endStream: chunks.length === 0 && endStream });
      } catch {
        result.other = 'RAW_REQUEST_THREW';
        finish();
        return;
      }
      const take = (h: http2.IncomingHttpHeaders): void => {
        const g = h['grpc-status'];
        if (g !== undefined) result.grpc = STATUS_NAME[Number(g)] ?? `grpc${String(g)}`;
        const c = h['rpmem-code'];
        if (typeof c === 'string') result.rpmemCode = c;
        if (result.grpc === undefined && h[':status'] !== undefined) result.other = `HTTP_${String(h[':status'])}`;
      };
      req.on('response', take);
      req.on('trailers', take);
      req.on('data', () => undefined);
      req.on('error', () => (result.other = result.grpc === undefined ? 'RAW_STREAM_ERROR' : result.other));
      req.on('close', finish);
      (async () => {
        for (let i = 0; i < chunks.length; i++) {
          if (req.destroyed) return;
          const last = i === chunks.length - 1;
          if (last && endStream) req.end(chunks[i]);
          else req.write(chunks[i]);
          if (rng.chance(0.2)) await sleep(rng.int(20));
        }
        if (chunks.length === 0 && endStream && !req.destroyed) req.end();
        if (destroySession) {
          await sleep(rng.int(30));
          session.destroy();
        } else if (rstAfter !== undefined) {
          await sleep(rstAfter);
          if (!req.destroyed)
            req.close(
              rng.pick([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_INTERNAL_ERROR, http2.constants.NGHTTP2_PROTOCOL_ERROR]),
            );
        }
      })().catch(() => undefined);
    });
  }

  /** Garbage over plain TCP: random bytes, or the HTTP/2 preface followed by random frames. */
  private async rawTcp(rng: Rng, trace: Trace): Promise<void> {
    trace.transport = 'tcp';
    trace.method = 'tcp';
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const body = rng.chance(0.5) ? randomBytes(rng, 8192) : Buffer.concat([preface, randomBytes(rng, 4096)]);
    trace.frames = [];
    keepFrame(trace, body);
    this.stats.frames['raw-http2']++;
    const [host, port] = [
      this.cfg.address.slice(0, this.cfg.address.lastIndexOf(':')),
      Number(this.cfg.address.slice(this.cfg.address.lastIndexOf(':') + 1)),
    ];
    const holdMs = rng.int(500);
    const outcome = await this.inSlot(
      () =>
        new Promise<string>((resolve) => {
          const sock = net.connect({ host, port });
          let ended = 'TCP_HELD';
          const guard = setTimeout(() => sock.destroy(), holdMs + 2000);
          sock.on('error', () => (ended = 'TCP_ERROR'));
          sock.on('data', () => undefined);
          sock.on('end', () => (ended = 'TCP_SERVER_CLOSED'));
          sock.on('close', () => {
            clearTimeout(guard);
            resolve(ended);
          });
          sock.on('connect', () => {
            sock.write(body);
            setTimeout(() => sock.end(), holdMs);
          });
        }),
    );
    this.stats.count(this.stats.statuses, outcome);
  }
}
