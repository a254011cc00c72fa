/**
 * Baseline 1, the transport floor: the same bytes over a plain loopback TCP socket, between this
 * process and an echo-acker child (tcp-acker.ts). Bulk: 1 MiB messages, an 8-byte ack for each,
 * at most the initiator's window unacknowledged. Ping-pong: one 64 B or 4 KiB message, wait for
 * its 8-byte ack, repeat (the shape of a queue-depth-1 persist).
 */
import * as net from 'net';
import { startListening, stopListening } from './child';
import { BenchConfig } from './config';
import { Qd1Result, runQd1 } from './loops';

const ACK_BYTES = 8;
const BULK_MESSAGE_BYTES = 1024 * 1024;
const MAX_BULK_BYTES = 256 * 1024 * 1024 * 1024;

export interface TcpFloorResult {
  bulk: { bytes: number; seconds: number; bytesPerSec: number; messageBytes: number; windowBytes: number };
  pingPong: Record<number, Qd1Result>;
}

function connect(port: number, messageBytes: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.setNoDelay(true);
      const header = Buffer.alloc(8);
      header.writeUInt32LE(messageBytes, 0);
      header.writeUInt32LE(ACK_BYTES, 4);
      socket.write(header);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Sends 1 MiB messages with at most `windowBytes` unacknowledged, for `ms`; bytes/s acknowledged. */
async function bulk(port: number, windowBytes: number, ms: number): Promise<TcpFloorResult['bulk']> {
  const socket = await connect(port, BULK_MESSAGE_BYTES);
  const message = Buffer.alloc(BULK_MESSAGE_BYTES, 7);
  let sent = 0;
  let acked = 0;
  let ackRemainder = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + ms;
  await new Promise<void>((resolve, reject) => {
    let blocked = false;
    let stopped = false;
    const pump = (): void => {
      if (!stopped && (Date.now() >= deadline || sent >= MAX_BULK_BYTES)) stopped = true;
      while (!stopped && !blocked && sent - acked + BULK_MESSAGE_BYTES <= windowBytes) {
        sent += BULK_MESSAGE_BYTES;
        if (!socket.write(message)) blocked = true;
      }
      if (stopped && acked === sent) resolve();
    };
    socket.on('drain', () => {
      blocked = false;
      pump();
    });
    socket.on('data', (chunk: Buffer) => {
      ackRemainder += chunk.length;
      const acks = Math.floor(ackRemainder / ACK_BYTES);
      ackRemainder -= acks * ACK_BYTES;
      acked += acks * BULK_MESSAGE_BYTES;
      pump();
    });
    socket.once('error', reject);
    pump();
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  return { bytes: acked, seconds, bytesPerSec: acked / seconds, messageBytes: BULK_MESSAGE_BYTES, windowBytes };
}

/** One `bytes` message, wait for its ack, repeat; latency of each round trip. */
async function pingPong(port: number, bytes: number, config: BenchConfig): Promise<Qd1Result> {
  const socket = await connect(port, bytes);
  const message = Buffer.alloc(bytes, 5);
  let received = 0;
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received >= ACK_BYTES && waiting !== undefined) {
      received -= ACK_BYTES;
      const w = waiting;
      waiting = undefined;
      w();
    }
  });
  const roundTrip = (): Promise<void> =>
    new Promise<void>((resolve) => {
      waiting = resolve;
      socket.write(message);
    });
  const result = await runQd1(roundTrip, {
    maxOps: config.cellMaxOps,
    maxMs: config.tcpMs,
    warmupOps: 1000,
    warmupMs: config.warmupMs,
  });
  socket.destroy();
  return result;
}

export async function runTcpFloor(config: BenchConfig): Promise<TcpFloorResult> {
  const acker = await startListening('tcp-acker.js');
  const port = acker.port;
  try {
    await bulk(port, config.windowBytes, Math.min(config.tcpMs, 200)); // warm-up
    const bulkResult = await bulk(port, config.windowBytes, config.tcpMs);
    const pp: Record<number, Qd1Result> = {};
    for (const bytes of [64, 4096]) pp[bytes] = await pingPong(port, bytes, config);
    return { bulk: bulkResult, pingPong: pp };
  } finally {
    await stopListening(acker);
  }
}
