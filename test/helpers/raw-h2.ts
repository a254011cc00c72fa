/**
 * A hand-driven HTTP/2 client over plain TCP, for tests that must send what Node's http2 client
 * refuses to send (frames that break the protocol) and see every frame the daemon answers with.
 */
import * as net from 'net';
import { waitFor } from './wait';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;
export const FLAG_END_HEADERS = 0x4;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** One frame: 24-bit length, type, flags, 31-bit stream id, payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK block of literal fields without indexing (names and values under 127 bytes). */
export function literalHeaders(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    if (name.length > 126 || value.length > 126) throw new Error('literalHeaders: field over 126 bytes');
    parts.push(Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value));
  }
  return Buffer.concat(parts);
}

/** The request headers of a gRPC call to `path`. */
export function grpcRequestHeaders(path: string): Buffer {
  return literalHeaders([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'rpmemd'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ]);
}

export class RawH2 {
  readonly frames: Frame[] = [];
  private buffered = Buffer.alloc(0);
  closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.parse(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  /** Connects and sends the preface with `settings` (a SETTINGS payload, default none). */
  static async connect(address: string, settings: Buffer = Buffer.alloc(0)): Promise<RawH2> {
    const at = address.lastIndexOf(':');
    const socket = net.connect(Number(address.slice(at + 1)), address.slice(0, at));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const raw = new RawH2(socket);
    raw.send(PREFACE, frame(FRAME.SETTINGS, 0, 0, settings));
    return raw;
  }

  send(...bytes: Buffer[]): void {
    this.socket.write(Buffer.concat(bytes));
  }

  /** Waits (at most `timeoutMs`) for a frame matching `match` and returns it. */
  async expect(match: (f: Frame) => boolean, what: string, timeoutMs = 10_000): Promise<Frame> {
    await waitFor(() => this.frames.some(match), timeoutMs, what);
    return this.frames.find(match)!;
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) return;
      this.frames.push({
        type: this.buffered.readUInt8(3),
        flags: this.buffered.readUInt8(4),
        stream: this.buffered.readUInt32BE(5) & 0x7fffffff,
        payload: this.buffered.subarray(9, 9 + length),
      });
      this.buffered = this.buffered.subarray(9 + length);
    }
  }
}
