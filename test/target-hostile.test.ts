/**
 * rpmemd against hostile input: every bad request gets a clear status and a stable RpmemError code,
 * nothing acked before it is affected, and the daemon keeps serving.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { RpmemError, ErrorCode } from '../src/storage/errors';
import { decodeHeader, encodeHeader, slotOffset, HEADER_BYTES } from '../src/storage/pool-header';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { TargetClient } from '../src/initiator/target-client';
import { RemotePool } from '../src/initiator/remote-pool';
import { TestTarget } from './helpers/test-target';
import { RawPersist, range } from './helpers/raw-persist';
import { FLAG_END_HEADERS, FRAME, RawH2, frame, grpcRequestHeaders } from './helpers/raw-h2';
import { encode, grpcFrame } from './helpers/fuzz-frames';
import { waitFor } from './helpers/wait';
import { rejection, wireStatus } from './helpers/rejection';

const POOL_SIZE = HEADER_BYTES + 1024 * 1024;
/** SETTINGS_INITIAL_WINDOW_SIZE = 0: the daemon may send headers but no DATA. */
const SETTINGS_NO_WINDOW = Buffer.from([0, 4, 0, 0, 0, 0]);
const END_STREAM = 0x1;
const INTERNAL_ERROR = 2;
/** Node's default maxSessionInvalidFrames (http2.createServer options). */
const NODE_MAX_INVALID_FRAMES = 1000;
const MAX_RANGE = 64 * 1024;

describe('rpmemd hostile input', function () {
  let target: TestTarget;
  let client: TargetClient;
  let poolCounter = 0;

  before(async () => {
    target = await TestTarget.start({ args: ['--max-range-bytes', String(MAX_RANGE), '--max-pool-bytes', String(64 * 1024 * 1024)] });
    client = new TargetClient(target.address);
  });

  after(async () => {
    client.close();
    await target.stop();
  });

  afterEach(async function () {
    // The daemon must still serve after whatever the test sent.
    const info = await client.stat({ protocolVersion: PROTOCOL_VERSION, name: 'canary' }).catch(async (err: RpmemError) => {
      expect(err.code).to.equal(ErrorCode.NO_POOL);
      return client.create({ protocolVersion: PROTOCOL_VERSION, name: 'canary', poolSize: POOL_SIZE });
    });
    expect(info.name).to.equal('canary');
  });

  async function freshPool(): Promise<{ name: string; handle: string; file: string }> {
    const name = `p${++poolCounter}`;
    await client.create({ protocolVersion: PROTOCOL_VERSION, name, poolSize: POOL_SIZE });
    const res = await client.open({ protocolVersion: PROTOCOL_VERSION, name });
    return { name, handle: res.handle, file: target.poolPath(name) };
  }

  /**
   * Sends two good ranges and then `bad` in one batch; checks the good ones were acked and are in the
   * file. Returns the file as it was before the stream and after it.
   */
  async function badRangeAfterGoodOnes(bad: (seq: bigint) => ReturnType<typeof range>, code: ErrorCode, grpcStatus: Status) {
    const { handle, file } = await freshPool();
    const before = fs.readFileSync(file);
    const raw = new RawPersist(client).start(handle);
    const badRange = bad(3n);
    const out = await raw.send(range(1n, HEADER_BYTES, 100, 0x11), range(2n, HEADER_BYTES + 4096, 200, 0x22), badRange).outcome;
    expect(out.error?.code, out.error?.message).to.equal(code);
    expect(out.status).to.equal(grpcStatus);
    expect(out.error?.seq).to.equal(BigInt(badRange.seq as string));
    expect(out.error?.message).to.include(`seq ${badRange.seq}`);
    expect(out.acks[out.acks.length - 1]).to.equal(2n);
    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(HEADER_BYTES, HEADER_BYTES + 100).equals(Buffer.alloc(100, 0x11))).to.equal(true);
    expect(bytes.subarray(HEADER_BYTES + 4096, HEADER_BYTES + 4296).equals(Buffer.alloc(200, 0x22))).to.equal(true);
    return { file, before, bytes };
  }

  describe('data plane', () => {
    it('refuses an offset into the header', async () => {
      // Into the slot a fresh pool's header lives in: the good batch's update goes to the other slot,
      // so a stray write here would survive it.
      const liveSlot = HEADER_BYTES / 2;
      const { before, bytes } = await badRangeAfterGoodOnes(
        (s) => range(s, liveSlot + 100, 10),
        ErrorCode.OUT_OF_RANGE,
        Status.OUT_OF_RANGE,
      );
      // The only change to the header is the one update for the batch of the two good ranges: one
      // slot rewritten with durableSeq 2, every other header byte as it was before the stream.
      const was = decodeHeader(before.subarray(0, HEADER_BYTES), before.length, 'header before');
      const now = decodeHeader(bytes.subarray(0, HEADER_BYTES), bytes.length, 'header after');
      expect(slotOffset(was.generation)).to.equal(liveSlot);
      expect(now).to.deep.equal({ ...was, generation: was.generation + 1n, durableSeq: 2n });
      const expected = Buffer.from(before.subarray(0, HEADER_BYTES));
      encodeHeader(now).copy(expected, slotOffset(now.generation));
      expect(bytes.subarray(0, HEADER_BYTES).equals(expected), 'header bytes vs the snapshot plus one slot update').to.equal(true);
    });

    it('refuses a range ending past the pool', async () => {
      await badRangeAfterGoodOnes((s) => range(s, POOL_SIZE - 10, 11), ErrorCode.OUT_OF_RANGE, Status.OUT_OF_RANGE);
    });

    it('refuses an offset far past the end (no overflow)', async () => {
      await badRangeAfterGoodOnes(
        (s) => ({ ...range(s, 0, 8), offset: '18446744073709551615' }),
        ErrorCode.OUT_OF_RANGE,
        Status.OUT_OF_RANGE,
      );
    });

    it('refuses a range of length 0', async () => {
      await badRangeAfterGoodOnes((s) => range(s, HEADER_BYTES, 0), ErrorCode.EMPTY_RANGE, Status.INVALID_ARGUMENT);
    });

    it('refuses a range over the configured maximum', async () => {
      await badRangeAfterGoodOnes((s) => range(s, HEADER_BYTES, MAX_RANGE + 1), ErrorCode.RANGE_TOO_LARGE, Status.INVALID_ARGUMENT);
    });

    it('refuses a bad checksum and leaves the bytes unwritten', async () => {
      const { file } = await badRangeAfterGoodOnes(
        (s) => ({ ...range(s, HEADER_BYTES + 8192, 64, 0x33), crc32c: 12345 }),
        ErrorCode.CHECKSUM,
        Status.DATA_LOSS,
      );
      const bytes = fs.readFileSync(file);
      expect(bytes.subarray(HEADER_BYTES + 8192, HEADER_BYTES + 8256).equals(Buffer.alloc(64))).to.equal(true);
    });

    it('refuses a sequence number going backwards', async () => {
      await badRangeAfterGoodOnes((_s) => range(1n, HEADER_BYTES, 8), ErrorCode.SEQUENCE, Status.FAILED_PRECONDITION);
    });

    it('refuses a gap in sequence numbers', async () => {
      const { handle } = await freshPool();
      const out = await new RawPersist(client).start(handle).send(range(1n, HEADER_BYTES, 8), range(3n, HEADER_BYTES, 8)).outcome;
      expect(out.error?.code).to.equal(ErrorCode.SEQUENCE);
      expect(out.error?.seq).to.equal(3n);
    });

    it('refuses unknown range flags', async () => {
      await badRangeAfterGoodOnes(
        (s) => ({ ...range(s, HEADER_BYTES, 8), flags: 0x80 }),
        ErrorCode.INVALID_ARGUMENT,
        Status.INVALID_ARGUMENT,
      );
    });

    it('refuses a stream whose first message is not a PersistStart', async () => {
      const out = await new RawPersist(client).send(range(1n, HEADER_BYTES, 8)).outcome;
      expect(out.error?.code).to.equal(ErrorCode.INVALID_ARGUMENT);
    });

    it('refuses an unknown handle', async () => {
      const out = await new RawPersist(client).start('no-such-handle').outcome;
      expect(out.error?.code).to.equal(ErrorCode.BAD_HANDLE);
      expect(out.status).to.equal(Status.NOT_FOUND);
    });

    it('refuses a second PersistStart on the same stream', async () => {
      const { handle } = await freshPool();
      const out = await new RawPersist(client).start(handle).start(handle).outcome;
      expect(out.error?.code).to.equal(ErrorCode.INVALID_ARGUMENT);
    });

    it('refuses a second stream on one writer handle', async () => {
      const { handle } = await freshPool();
      const first = new RawPersist(client).start(handle).send(range(1n, HEADER_BYTES, 8));
      await waitFor(() => first.acks.length > 0);
      const out = await new RawPersist(client).start(handle).outcome;
      expect(out.error?.code).to.equal(ErrorCode.BUSY);
      expect((await first.end()).status).to.equal(Status.OK);
    });

    it('refuses a persist stream stating another protocol version', async () => {
      const { handle } = await freshPool();
      const out = await new RawPersist(client).start(handle, PROTOCOL_VERSION + 1).outcome;
      expect(out.error?.code).to.equal(ErrorCode.PROTOCOL);
    });

    it('acks every good range and ends OK when the client half-closes', async () => {
      const { handle } = await freshPool();
      const raw = new RawPersist(client).start(handle);
      for (let s = 1n; s <= 50n; s++) raw.send(range(s, HEADER_BYTES + Number(s) * 16, 16));
      const out = await raw.end();
      expect(out.status).to.equal(Status.OK);
      expect(out.acks[out.acks.length - 1]).to.equal(50n);
      for (let i = 1; i < out.acks.length; i++) expect(out.acks[i] > out.acks[i - 1]).to.equal(true);
    });
  });

  describe('control plane', () => {
    for (const name of ['../x', '/etc/passwd', 'a/b', '', 'x'.repeat(200), '.hidden', 'a\0b']) {
      it(`refuses the pool name ${JSON.stringify(name.length > 20 ? name.slice(0, 20) + '…' : name)}`, async () => {
        for (const call of [
          client.create({ protocolVersion: PROTOCOL_VERSION, name, poolSize: POOL_SIZE }),
          client.open({ protocolVersion: PROTOCOL_VERSION, name }),
          client.stat({ protocolVersion: PROTOCOL_VERSION, name }),
          client.remove({ protocolVersion: PROTOCOL_VERSION, name }),
        ]) {
          const err = await rejection(call);
          expect(err.code).to.equal(ErrorCode.BAD_NAME);
          expect(wireStatus(err)).to.equal(Status.INVALID_ARGUMENT);
        }
        expect(fs.readdirSync(target.poolDir).filter((f) => !/^(p\d+|canary)$/.test(f))).to.deep.equal([]);
      });
    }

    it('refuses an unknown pool', async () => {
      for (const call of [
        client.open({ protocolVersion: PROTOCOL_VERSION, name: 'nope' }),
        client.stat({ protocolVersion: PROTOCOL_VERSION, name: 'nope' }),
        client.remove({ protocolVersion: PROTOCOL_VERSION, name: 'nope' }),
      ]) {
        expect((await rejection(call)).code).to.equal(ErrorCode.NO_POOL);
      }
    });

    it('refuses to create an existing pool and leaves it intact', async () => {
      const { name, file } = await freshPool();
      const before = fs.readFileSync(file);
      const err = await rejection(client.create({ protocolVersion: PROTOCOL_VERSION, name, poolSize: POOL_SIZE * 2 }));
      expect(err.code).to.equal(ErrorCode.EXISTS);
      expect(wireStatus(err)).to.equal(Status.ALREADY_EXISTS);
      expect(fs.readFileSync(file).equals(before)).to.equal(true);
    });

    it('refuses size 0 and sizes within the header', async () => {
      for (const poolSize of [0, 1, HEADER_BYTES]) {
        const err = await rejection(client.create({ protocolVersion: PROTOCOL_VERSION, name: `small${poolSize}`, poolSize }));
        expect(err.code).to.equal(ErrorCode.INVALID_ARGUMENT);
      }
      expect(fs.readdirSync(target.poolDir).filter((f) => f.startsWith('small'))).to.deep.equal([]);
    });

    it('refuses a size past the configured maximum', async () => {
      const err = await rejection(client.create({ protocolVersion: PROTOCOL_VERSION, name: 'huge', poolSize: 64 * 1024 * 1024 + 1 }));
      expect(err.code).to.equal(ErrorCode.LIMIT);
      expect(wireStatus(err)).to.equal(Status.RESOURCE_EXHAUSTED);
      expect(fs.existsSync(target.poolPath('huge'))).to.equal(false);
    });

    it('refuses a second writer on an open pool, and accepts readers', async () => {
      const { name } = await freshPool();
      const err = await rejection(client.open({ protocolVersion: PROTOCOL_VERSION, name }));
      expect(err.code).to.equal(ErrorCode.BUSY);
      const reader = await client.open({ protocolVersion: PROTOCOL_VERSION, name, mode: 'OPEN_MODE_READ_ONLY' });
      expect(reader.handle).to.be.a('string');
    });

    it('refuses to remove an open pool', async () => {
      const { name } = await freshPool();
      expect((await rejection(client.remove({ protocolVersion: PROTOCOL_VERSION, name }))).code).to.equal(ErrorCode.BUSY);
    });

    it('refuses a client with another protocol version, or none', async () => {
      for (const protocolVersion of [0, PROTOCOL_VERSION + 1]) {
        const err = await rejection(client.create({ protocolVersion, name: 'vers', poolSize: POOL_SIZE }));
        expect(err.code).to.equal(ErrorCode.PROTOCOL);
        expect(err.message).to.match(/protocol version 1/);
      }
    });

    it('refuses a read outside the data area and a read on an unknown handle', async () => {
      const { name } = await freshPool();
      const reader = await RemotePool.open(target.address, name, { readOnly: true });
      try {
        expect((await rejection(reader.read(0, 0))).code).to.equal(ErrorCode.EMPTY_RANGE);
        expect((await rejection(reader.read(POOL_SIZE, 1))).code).to.equal(ErrorCode.OUT_OF_RANGE);
      } finally {
        await reader.close();
      }
      expect((await rejection(client.closeHandle({ handle: 'nope' }))).code).to.equal(ErrorCode.BAD_HANDLE);
    });

    it('refuses a request message that does not parse with INVALID_ARGUMENT, not INTERNAL', async () => {
      const raw = new grpc.Client(target.address, grpc.credentials.createInsecure());
      const bytes = (b: Buffer): Buffer => b;
      // Field 1 with wire type 7, which protobuf does not define.
      const malformed = Buffer.from([0x0f]);
      try {
        for (const method of ['Create', 'Stat', 'Open', 'List']) {
          const err = await new Promise<grpc.ServiceError>((resolve) =>
            raw.makeUnaryRequest(`/rpmem.v1.Target/${method}`, bytes, bytes, malformed, (e) => resolve(e!)),
          );
          expect(err.code, `${method}: ${err.details}`).to.equal(Status.INVALID_ARGUMENT);
          expect(err.metadata.get('rpmem-code')).to.deep.equal([ErrorCode.INVALID_ARGUMENT]);
          expect(err.details).to.match(new RegExp(`not a valid ${method} request`));
        }
        const read = raw.makeServerStreamRequest('/rpmem.v1.Target/Read', bytes, bytes, malformed);
        read.on('data', () => undefined);
        read.on('error', () => undefined);
        const status = await new Promise<grpc.StatusObject>((resolve) => read.on('status', resolve));
        expect(status.code).to.equal(Status.INVALID_ARGUMENT);
        expect(status.metadata.get('rpmem-code')).to.deep.equal([ErrorCode.INVALID_ARGUMENT]);
      } finally {
        raw.close();
      }
    });

    it('refuses persist on a read-only pool', async () => {
      const { name } = await freshPool();
      const reader = await RemotePool.open(target.address, name, { readOnly: true });
      try {
        expect((await rejection(reader.persist(0, Buffer.from('x')))).code).to.equal(ErrorCode.BAD_HANDLE);
      } finally {
        await reader.close();
      }
    });
  });

  describe('transport', () => {
    it("a peer over one of Node's HTTP/2 session limits loses its open calls (RST_STREAM INTERNAL_ERROR, GOAWAY), and the daemon logs why", async () => {
      const own = await TestTarget.start({ keepStderr: true });
      const control = new TargetClient(own.address);
      const raw = await RawH2.connect(own.address, SETTINGS_NO_WINDOW);
      try {
        await control.create({ protocolVersion: PROTOCOL_VERSION, name: 'held', poolSize: POOL_SIZE });
        const { handle } = await control.open({ protocolVersion: PROTOCOL_VERSION, name: 'held', mode: 'OPEN_MODE_READ_ONLY' });
        // A Read the daemon has started: with no receive window its reply stops after the headers.
        const read = grpcFrame(encode('ReadRequest', { handle, offset: String(HEADER_BYTES), length: String(1024 * 1024) }));
        raw.send(
          frame(FRAME.HEADERS, FLAG_END_HEADERS, 1, grpcRequestHeaders('/rpmem.v1.Target/Read')),
          frame(FRAME.DATA, END_STREAM, 1, read),
        );
        await raw.expect((f) => f.type === FRAME.HEADERS && f.stream === 1, 'the Read reply headers');
        // Empty DATA frames without END_STREAM count as invalid; past maxSessionInvalidFrames
        // (1000) Node's http2 layer destroys the session, like its other session limits do.
        raw.send(frame(FRAME.HEADERS, FLAG_END_HEADERS, 3, grpcRequestHeaders('/rpmem.v1.Target/Persist')));
        raw.send(...Array.from({ length: NODE_MAX_INVALID_FRAMES + 2 }, () => frame(FRAME.DATA, 0, 3)));
        const reset = await raw.expect((f) => f.type === FRAME.RST_STREAM && f.stream === 1, 'RST_STREAM of the Read');
        expect(reset.payload.readUInt32BE(0), 'RST_STREAM error code').to.equal(INTERNAL_ERROR);
        const goaway = await raw.expect((f) => f.type === FRAME.GOAWAY, 'GOAWAY');
        expect(goaway.payload.readUInt32BE(4), 'GOAWAY error code').to.equal(INTERNAL_ERROR);
        const logged = (): string | undefined => own.fullLog.split('\n').find((l) => l.includes('HTTP/2 connection closed with an error'));
        await waitFor(() => logged() !== undefined, 10_000, 'the daemon log line');
        const line = JSON.parse(logged()!) as Record<string, unknown>;
        expect(line.code).to.equal('ERR_HTTP2_TOO_MANY_INVALID_FRAMES');
        expect(line.resetCalls).to.equal(2);
        expect(line.peer).to.match(/^127\.0\.0\.1:\d+$/);
        // Other connections are unaffected.
        expect((await control.stat({ protocolVersion: PROTOCOL_VERSION, name: 'held' })).name).to.equal('held');
      } finally {
        raw.close();
        control.close();
        await own.stop();
      }
    });
  });
});
