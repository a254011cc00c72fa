/**
 * The transport floor's far end, run as a child process: a plain TCP server that, per connection,
 * reads an 8-byte header (u32 message bytes, u32 ack bytes) and then answers every complete
 * message with an ack of that many bytes. Prints "listening PORT" once; exits when its stdin closes.
 */
import * as net from 'net';

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let header: Buffer | undefined = Buffer.alloc(0);
  let messageBytes = 0;
  let ack = Buffer.alloc(0);
  let pending = 0;
  socket.on('data', (chunk: Buffer) => {
    if (header !== undefined) {
      header = Buffer.concat([header, chunk]);
      if (header.length < 8) return;
      messageBytes = header.readUInt32LE(0);
      ack = Buffer.alloc(header.readUInt32LE(4), 1);
      chunk = header.subarray(8);
      header = undefined;
    }
    pending += chunk.length;
    const complete = Math.floor(pending / messageBytes);
    if (complete === 0) return;
    pending -= complete * messageBytes;
    socket.write(complete === 1 ? ack : Buffer.concat(Array.from({ length: complete }, () => ack)));
  });
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`listening ${address.port}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
