/**
 * Baseline 4, the grpc-js ceiling: what a bare grpc-js bidi stream shaped like Persist moves on
 * this machine, client here and server in a child process (grpc-sink.ts), which decodes each
 * message and acks it. Messages are encoded once before the cell (no CRC, no copy per range on
 * either side, no sync), so every cost left is grpc-js's framing, HTTP/2 flow control and the
 * far end's decoding. Pipelined: at most the initiator's window of bytes unacknowledged, respecting
 * write()'s backpressure, for 1 × 1 MiB, 64 × 4 KiB, 1 × 4 KiB and 256 × 4 KiB ranges per message, under each
 * server receive window measured. QD1: one 1 × 4 KiB message, wait for its ack, repeat.
 */
import * as crypto from 'crypto';
import type * as grpc from '@grpc/grpc-js';
import { PersistAckFrame, PersistRange, encodePersistRequest } from '../src/wire/persist-codec';
import { OutgoingPersistRequest } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { TargetClient } from '../src/initiator/target-client';
import { AUTHENTICATED_WINDOW_BYTES, HTTP2_WINDOW_BYTES } from '../src/target/http2-window';
import { ListeningChild, startListening, stopListening } from './child';
import { BenchConfig } from './config';
import { Qd1Result, runQd1 } from './loops';
import { CpuPerGb, withCpu } from './rpmem';

const KiB = 1024;
const MiB = 1024 * KiB;
/** How long the last acks of a cell may take to arrive after its time bound. */
const DRAIN_TIMEOUT_MS = 30_000;

/** One message shape: `rangesPerMessage` ranges of `rangeBytes` each. */
export interface CeilingShape {
  rangeBytes: number;
  rangesPerMessage: number;
}

/** The server receive windows the ceiling is measured at: rpmemd's for any peer, for an authenticated writer, and 64 MiB. */
export const CEILING_WINDOW_MAX_BYTES = 64 * MiB;
export const CEILING_WINDOWS = [HTTP2_WINDOW_BYTES, AUTHENTICATED_WINDOW_BYTES, CEILING_WINDOW_MAX_BYTES];

/**
 * The shapes issue 11 names, and 256 × 4 KiB: what rpmem's initiator actually sends when 4 KiB
 * ranges queue up (it fills messages up to 1 MiB), so G1 compares like with like.
 */
export const CEILING_SHAPES: readonly CeilingShape[] = [
  { rangeBytes: MiB, rangesPerMessage: 1 },
  { rangeBytes: 4 * KiB, rangesPerMessage: 64 },
  { rangeBytes: 4 * KiB, rangesPerMessage: 1 },
  { rangeBytes: 4 * KiB, rangesPerMessage: 256 },
];

export interface CeilingCell extends CeilingShape {
  /** The server's HTTP/2 receive window (per connection and per stream). */
  windowBytes: number;
  messages: number;
  bytes: number;
  seconds: number;
  /** Ranges per second (messages × ranges per message). */
  opsPerSec: number;
  bytesPerSec: number;
  cpu: CpuPerGb;
}

export interface GrpcCeilingResult {
  /** The windows measured, smallest first. */
  windows: number[];
  cells: CeilingCell[];
  /** QD1 round trip of one 1 × 4 KiB message, at the authenticated window (rpmem's QD1 rows run there). */
  qd1: Qd1Result & { windowBytes: number };
}

/** The ceiling cell of `shape` under `windowBytes`, if measured. */
export function ceilingCell(r: GrpcCeilingResult | undefined, shape: CeilingShape, windowBytes: number): CeilingCell | undefined {
  return r?.cells.find(
    (c) => c.windowBytes === windowBytes && c.rangeBytes === shape.rangeBytes && c.rangesPerMessage === shape.rangesPerMessage,
  );
}

/** One encoded PersistRequest of `shape` (random data, no CRC). */
function message(shape: CeilingShape): Buffer {
  const data = crypto.randomBytes(shape.rangeBytes);
  const ranges: PersistRange[] = Array.from({ length: shape.rangesPerMessage }, (_, i) => ({
    seq: i + 1,
    offset: HEADER_BYTES + i * shape.rangeBytes,
    data,
    crc32c: 0,
    flags: 0,
    lsn: 0,
  }));
  return encodePersistRequest({ kind: 'batch', ranges });
}

type PersistCall = grpc.ClientDuplexStream<OutgoingPersistRequest, PersistAckFrame>;

/** Opens a stream and resolves once it carried one round trip. */
async function openStream(client: TargetClient): Promise<PersistCall> {
  const call = client.persist();
  call.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    call.once('data', () => resolve());
    call.once('error', reject);
    call.write(message({ rangeBytes: 64, rangesPerMessage: 1 }));
  });
  return call;
}

/** Closes a stream and waits for its status, bounded. */
function closeStream(call: PersistCall): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      call.cancel();
      resolve();
    }, DRAIN_TIMEOUT_MS);
    call.once('status', () => {
      clearTimeout(timer);
      resolve();
    });
    call.end();
  });
}

/** Sends `msg` with at most `windowBytes` unacknowledged for `ms`; counts acknowledged messages. */
async function pump(client: TargetClient, msg: Buffer, windowBytes: number, ms: number): Promise<{ messages: number; seconds: number }> {
  const call = await openStream(client);
  let acked = 0;
  let sent = 0;
  const base = 1; // the round trip openStream made
  const started = process.hrtime.bigint();
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + ms;
      let blocked = false;
      let stopped = false;
      const drainTimer = setTimeout(() => reject(new Error('grpc ceiling: acks stopped')), ms + DRAIN_TIMEOUT_MS);
      const fill = (): void => {
        if (!stopped && Date.now() >= deadline) stopped = true;
        while (!stopped && !blocked && (sent === acked || (sent - acked + 1) * msg.length <= windowBytes)) {
          sent++;
          if (!call.write(msg)) blocked = true;
        }
        if (stopped && acked === sent) {
          clearTimeout(drainTimer);
          resolve();
        }
      };
      call.on('data', (ack: PersistAckFrame) => {
        acked = ack.durableSeq - base;
        fill();
      });
      call.on('drain', () => {
        blocked = false;
        fill();
      });
      call.once('error', reject);
      fill();
    });
  } finally {
    call.removeAllListeners('data');
    await closeStream(call);
  }
  return { messages: acked, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function cell(
  client: TargetClient,
  sinkPid: number,
  shape: CeilingShape,
  windowBytes: number,
  config: BenchConfig,
): Promise<CeilingCell> {
  const msg = message(shape);
  const rangeBytesPerMessage = shape.rangeBytes * shape.rangesPerMessage;
  await pump(client, msg, config.windowBytes, config.warmupMs);
  const r = await withCpu([sinkPid], async () => {
    const { messages, seconds } = await pump(client, msg, config.windowBytes, config.cellMs);
    return { messages, seconds, bytes: messages * rangeBytesPerMessage };
  });
  return {
    ...shape,
    windowBytes,
    messages: r.messages,
    bytes: r.bytes,
    seconds: r.seconds,
    opsPerSec: (r.messages * shape.rangesPerMessage) / r.seconds,
    bytesPerSec: r.bytes / r.seconds,
    cpu: r.cpu,
  };
}

/** QD1: one 1 × 4 KiB message, await its ack, repeat. */
export async function ceilingQd1(client: TargetClient, config: BenchConfig): Promise<Qd1Result> {
  const call = await openStream(client);
  const msg = message({ rangeBytes: 4 * KiB, rangesPerMessage: 1 });
  let waiting: (() => void) | undefined;
  call.on('data', () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  });
  try {
    return await runQd1(
      () =>
        new Promise<void>((resolve) => {
          waiting = resolve;
          call.write(msg);
        }),
      { maxOps: config.cellMaxOps, maxMs: config.cellMs, warmupOps: 2000, warmupMs: config.warmupMs },
    );
  } finally {
    call.removeAllListeners('data');
    await closeStream(call);
  }
}

/** Measures every shape under each of `windows` (one sink process per window), and QD1 under the authenticated one. */
export async function runGrpcCeiling(config: BenchConfig, windows: number[]): Promise<GrpcCeilingResult> {
  const sorted = [...new Set(windows)].sort((a, b) => a - b);
  const cells: CeilingCell[] = [];
  let qd1Result: Qd1Result | undefined;
  for (const windowBytes of sorted) {
    let sink: ListeningChild | undefined;
    let client: TargetClient | undefined;
    try {
      sink = await startListening('grpc-sink.js', [String(windowBytes)]);
      client = new TargetClient(`127.0.0.1:${sink.port}`);
      for (const shape of CEILING_SHAPES) cells.push(await cell(client, sink.child.pid!, shape, windowBytes, config));
      if (windowBytes === AUTHENTICATED_WINDOW_BYTES) qd1Result = await ceilingQd1(client, config);
    } finally {
      client?.close();
      if (sink !== undefined) await stopListening(sink);
    }
  }
  if (qd1Result === undefined) throw new Error('the authenticated window was not among the windows measured');
  return { windows: sorted, cells, qd1: { ...qd1Result, windowBytes: AUTHENTICATED_WINDOW_BYTES } };
}
