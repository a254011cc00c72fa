/**
 * Generic gRPC calls for the fuzz harness: any path, raw Buffer messages (identity serializers), a
 * deadline on every call, and an outcome that records the status, the rpmem-code trailer and what
 * came back. Also the gRPC status names, for the summary.
 */
import * as grpc from '@grpc/grpc-js';

export const identity = (b: Buffer): Buffer => b;

/** How a call ended, as the client saw it. */
export interface CallOutcome {
  code: number;
  details: string;
  /** The `rpmem-code` trailer, when the daemon sent one. */
  rpmemCode?: string;
  /** Messages received (kept only when asked for), their count and total bytes. */
  messages: Buffer[];
  received: number;
  bytes: number;
  /** True when the client cancelled or its deadline passed (the status is the client's own). */
  local: boolean;
}

export const STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(grpc.status)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

function rpmemCodeOf(md: grpc.Metadata | undefined): string | undefined {
  const v = md?.get('rpmem-code')[0];
  return typeof v === 'string' ? v : undefined;
}

/** A fresh connection: a local subchannel pool keeps every Client on its own HTTP/2 connection. */
export function newClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': -1,
    'grpc.enable_retries': 0,
  });
}

export function unaryCall(
  client: grpc.Client,
  path: string,
  frame: Buffer,
  deadlineMs: number,
  metadata = new grpc.Metadata(),
): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    client.makeUnaryRequest(path, identity, identity, frame, metadata, { deadline: started + deadlineMs }, (err, res) => {
      if (err) {
        resolve({
          code: err.code,
          details: err.details,
          rpmemCode: rpmemCodeOf(err.metadata),
          messages: [],
          received: 0,
          bytes: 0,
          local: err.code === grpc.status.DEADLINE_EXCEEDED && Date.now() - started >= deadlineMs - 5,
        });
      } else {
        resolve({ code: 0, details: 'OK', messages: res ? [res] : [], received: 1, bytes: res?.length ?? 0, local: false });
      }
    });
  });
}

export interface StreamOptions {
  deadlineMs: number;
  /** Keep received messages in the outcome (else only counted). */
  keep?: boolean;
  /** Cancel the call this many ms after it starts. */
  cancelAfterMs?: number;
  /** Never read: let the daemon's writes back up (slow reader). */
  slowReader?: boolean;
  metadata?: grpc.Metadata;
}

export function serverStreamCall(client: grpc.Client, path: string, frame: Buffer, opts: StreamOptions): Promise<CallOutcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, frame, opts.metadata ?? new grpc.Metadata(), {
      deadline: Date.now() + opts.deadlineMs,
    });
    const out: CallOutcome = { code: -1, details: '', messages: [], received: 0, bytes: 0, local: false };
    let cancelled = false;
    if (!opts.slowReader) {
      call.on('data', (m: Buffer) => {
        out.received++;
        out.bytes += m.length;
        if (opts.keep) out.messages.push(m);
      });
    }
    call.on('error', (err: grpc.ServiceError) => {
      out.rpmemCode = rpmemCodeOf(err.metadata);
    });
    const timer = opts.cancelAfterMs === undefined ? undefined : setTimeout(() => ((cancelled = true), call.cancel()), opts.cancelAfterMs);
    call.on('status', (s: grpc.StatusObject) => {
      clearTimeout(timer);
      out.code = s.code;
      out.details = s.details;
      out.rpmemCode ??= rpmemCodeOf(s.metadata);
      out.local = cancelled || (s.code === grpc.status.DEADLINE_EXCEEDED && out.rpmemCode === undefined);
      resolve(out);
    });
  });
}

/** A bidi call whose writes wait for the stream to drain (bounded), with its outcome as a promise. */
export class BidiCall {
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  readonly received: Buffer[] = [];
  readonly outcome: Promise<CallOutcome>;
  private ended = false;
  cancelled = false;

  constructor(client: grpc.Client, path: string, deadlineMs: number, metadata = new grpc.Metadata()) {
    this.call = client.makeBidiStreamRequest(path, identity, identity, metadata, { deadline: Date.now() + deadlineMs });
    const out: CallOutcome = { code: -1, details: '', messages: this.received, received: 0, bytes: 0, local: false };
    this.call.on('data', (m: Buffer) => {
      out.received++;
      out.bytes += m.length;
      if (this.received.length < 10_000) this.received.push(m);
    });
    this.call.on('error', (err: grpc.ServiceError) => {
      out.rpmemCode = rpmemCodeOf(err.metadata);
    });
    this.outcome = new Promise((resolve) =>
      this.call.on('status', (s: grpc.StatusObject) => {
        this.ended = true;
        out.code = s.code;
        out.details = s.details;
        out.rpmemCode ??= rpmemCodeOf(s.metadata);
        // The daemon's own DEADLINE_EXCEEDED (RPMEM_E_TIMEOUT, its idle timer) carries an rpmem-code.
        out.local = this.cancelled || (s.code === grpc.status.DEADLINE_EXCEEDED && out.rpmemCode === undefined);
        resolve(out);
      }),
    );
  }

  get done(): boolean {
    return this.ended;
  }

  /** Writes one message; waits (at most `maxWaitMs`) for 'drain' when the stream pushes back. */
  async write(frame: Buffer, maxWaitMs = 2000): Promise<void> {
    if (this.ended) return;
    if (this.call.write(frame)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.call.removeListener('drain', done);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      this.call.once('drain', done);
      void this.outcome.then(done);
    });
  }

  end(): void {
    if (!this.ended) this.call.end();
  }

  cancel(): void {
    this.cancelled = true;
    this.call.cancel();
  }
}
