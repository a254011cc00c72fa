/**
 * The grpc-js ceiling's far end, run as a child process: a bare grpc-js server with one bidi
 * method shaped like rpmem's Persist (same path, persist-codec's decoder and ack encoder), that
 * decodes every message and answers it at once with a cumulative ack of the messages received so
 * far. No CRC, no copy into a pool, no sync, no validation: what is left is grpc-js, HTTP/2 and
 * protobuf decoding. The receive window is rpmemd's mechanism (http2-window.ts) at the size given.
 *
 *   node dist/bench/grpc-sink.js WINDOW_BYTES
 *
 * Prints "listening PORT" once; exits when its stdin closes.
 */
import * as grpc from '@grpc/grpc-js';
import { PersistAckFrame, decodePersistRequest } from '../src/wire/persist-codec';
import { DEFAULT_MAX_BATCH_RANGES, persistMethod } from '../src/wire/protocol';
import { onSessions, setReceiveWindow } from '../src/target/http2-window';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const windowBytes = Number(process.argv[2]);
if (!Number.isSafeInteger(windowBytes) || windowBytes < 65_535)
  throw new Error(`usage: grpc-sink.js WINDOW_BYTES (got ${process.argv[2]})`);

const server = new grpc.Server({
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  'grpc-node.flow_control_window': windowBytes,
});
const method = { ...persistMethod, requestDeserialize: (bytes: Buffer) => decodePersistRequest(bytes, DEFAULT_MAX_BATCH_RANGES) };
server.addService(
  { Persist: method },
  {
    Persist: (call: grpc.ServerDuplexStream<ReturnType<typeof decodePersistRequest>, PersistAckFrame>) => {
      let messages = 0;
      call.on('data', () => call.write({ durableSeq: ++messages, granularity: 'cache-line', durability: 0 }));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  },
);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) throw err;
  if (!onSessions(server, (session) => setReceiveWindow(session, windowBytes)))
    throw new Error('cannot set the HTTP/2 receive window with this grpc-js');
  process.stdout.write(`listening ${port}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
