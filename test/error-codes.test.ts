/**
 * The reasons rpmemd gives (issue #10, items 4 and 5): values too large for their field are refused
 * as too large, naming the exact value sent; every status rpmemd itself sends carries its
 * `rpmem-code`, and the statuses grpc-js answers before rpmemd runs (a message over
 * max-message-bytes, an unknown method) come without one and are mapped by the status, as
 * docs/api.md (the RpmemError table) and docs/development.md (Wire protocol) say.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { ErrorCode, RpmemError, asRpmemError, describeError } from '../src/storage/errors';
import { fromServiceError, grpcStatusOf } from '../src/wire/status';
import { PROTOCOL_VERSION } from '../src/wire/protocol';
import { HEADER_BYTES } from '../src/storage/pool-header';
import { TargetClient } from '../src/initiator/target-client';
import { CallOutcome, newClient, serverStreamCall, unaryCall, BidiCall } from './helpers/fuzz-calls';
import { encode } from './helpers/fuzz-frames';
import { TestTarget } from './helpers/test-target';

const SVC = '/rpmem.v1.Target/';
const DEADLINE_MS = 10_000;
const MAX_MESSAGE_BYTES = 128 * 1024;
const U64_MAX = String(2n ** 64n - 1n);

describe('the error code table', () => {
  it("lists every ErrorCode in docs/api.md's RpmemError table, with the gRPC status it travels as", () => {
    const guide = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'api.md'), 'utf8');
    const rows = new Map([...guide.matchAll(/^\| `(RPMEM_E_[A-Z_]+)` \| ([A-Z_]+) \|/gm)].map((m) => [m[1], m[2]]));
    for (const code of Object.values(ErrorCode)) expect(rows.get(code), code).to.equal(Status[grpcStatusOf(code)]);
    expect([...rows.keys()].sort()).to.deep.equal(Object.values(ErrorCode).sort());
  });
});

describe('asRpmemError and describeError', () => {
  it('hands on an RpmemError as it is and wraps anything else, keeping it as the cause', () => {
    const own = new RpmemError(ErrorCode.BUSY, 'held');
    expect(asRpmemError(own, ErrorCode.IO, 'ignored')).to.equal(own);
    const thrown = new TypeError('boom');
    const wrapped = asRpmemError(thrown);
    expect([wrapped.code, wrapped.message, wrapped.cause]).to.deep.equal([ErrorCode.INTERNAL, 'boom', thrown]);
    const io = asRpmemError('disk gone', ErrorCode.IO, 'write failed');
    expect([io.code, io.message, io.cause]).to.deep.equal([ErrorCode.IO, 'write failed', 'disk gone']);
    expect(describeError(own)).to.equal('RPMEM_E_BUSY: held');
    expect(describeError(thrown)).to.equal('TypeError: boom');
  });
});

describe('rpmemd error codes and reasons', function () {
  let target: TestTarget;
  let client: TargetClient;
  let raw: grpc.Client;
  let handle: string;

  before(async () => {
    target = await TestTarget.start({
      args: ['--max-range-bytes', String(64 * 1024), '--max-message-bytes', String(MAX_MESSAGE_BYTES), '--max-streams', '1'],
    });
    client = new TargetClient(target.address);
    raw = newClient(target.address);
    await client.create({ protocolVersion: PROTOCOL_VERSION, name: 'codes', poolSize: HEADER_BYTES + 65536 });
    handle = (await client.open({ protocolVersion: PROTOCOL_VERSION, name: 'codes', mode: 'OPEN_MODE_READ_ONLY' })).handle;
  });

  after(async () => {
    raw?.close();
    client?.close();
    await target?.stop();
  });

  const read = (offset: string, length: string): Promise<CallOutcome> =>
    serverStreamCall(raw, `${SVC}Read`, encode('ReadRequest', { handle, offset, length }), { deadlineMs: DEADLINE_MS });
  const checksums = (offset: string, length: string): Promise<CallOutcome> =>
    serverStreamCall(raw, `${SVC}Checksums`, encode('ChecksumsRequest', { handle, offset, length, blockBytes: 4096 }), {
      deadlineMs: DEADLINE_MS,
    });
  const create = (name: string, poolSize: string): Promise<CallOutcome> =>
    unaryCall(raw, `${SVC}Create`, encode('CreateRequest', { protocolVersion: PROTOCOL_VERSION, name, poolSize }), DEADLINE_MS);

  describe('values too large for their field (item 4)', () => {
    for (const length of [String(2 ** 53), String(2n ** 63n), U64_MAX]) {
      it(`answers Read and Checksums of length ${length} with RPMEM_E_OUT_OF_RANGE naming it`, async () => {
        for (const out of [await read('4096', length), await checksums('4096', length)]) {
          expect(out.rpmemCode, out.details).to.equal(ErrorCode.OUT_OF_RANGE);
          expect(out.code).to.equal(Status.OUT_OF_RANGE);
          expect(out.details).to.include(`+${length})`);
        }
      });
    }

    it('still answers a length of 0 with RPMEM_E_EMPTY_RANGE and reads a range inside the pool', async () => {
      expect((await read('4096', '0')).rpmemCode).to.equal(ErrorCode.EMPTY_RANGE);
      const ok = await read('4096', '16');
      expect(ok.code).to.equal(Status.OK);
      expect(ok.bytes).to.be.greaterThan(16);
    });

    for (const size of [String(2n ** 63n), U64_MAX, String(2 ** 53 + 1)]) {
      it(`refuses Create of pool_size ${size} as over max-pool-bytes, with the exact number`, async () => {
        const out = await create('too-big', size);
        expect(out.rpmemCode, out.details).to.equal(ErrorCode.LIMIT);
        expect(out.details).to.include(`pool_size ${size} exceeds`);
      });
    }

    it('refuses Create of a pool_size within the header as INVALID_ARGUMENT, and creates one just past it', async () => {
      const out = await create('too-small', '4096');
      expect(out.rpmemCode).to.equal(ErrorCode.INVALID_ARGUMENT);
      expect(out.details).to.include('got 4096');
      expect((await create('just-right', '4097')).code).to.equal(Status.OK);
    });
  });

  describe('rpmem-code on the wire (item 5)', () => {
    /** The status and its code agree with the table in errors.ts. */
    function carries(out: CallOutcome, code: ErrorCode): void {
      expect(out.rpmemCode, `${out.code} ${out.details}`).to.equal(code);
      expect(out.code).to.equal(grpcStatusOf(code));
    }

    it('carries the code on a unary refusal, a malformed request, a server stream, a Persist stream and the stream limit', async () => {
      carries(
        await unaryCall(raw, `${SVC}Stat`, encode('StatRequest', { protocolVersion: PROTOCOL_VERSION, name: 'missing' }), DEADLINE_MS),
        ErrorCode.NO_POOL,
      );
      carries(await unaryCall(raw, `${SVC}Create`, Buffer.from([0x0a, 0xff]), DEADLINE_MS), ErrorCode.INVALID_ARGUMENT);
      carries(
        await serverStreamCall(raw, `${SVC}Read`, encode('ReadRequest', { handle: 'no-such-handle', offset: '4096', length: '1' }), {
          deadlineMs: DEADLINE_MS,
        }),
        ErrorCode.BAD_HANDLE,
      );
      const persist = new BidiCall(raw, `${SVC}Persist`, DEADLINE_MS);
      await persist.write(encode('PersistRequest', { batch: { ranges: [] } }));
      carries(await persist.outcome, ErrorCode.INVALID_ARGUMENT);
      // max-streams is 1: an idle stream holds the only slot.
      const idle = new BidiCall(raw, `${SVC}Persist`, DEADLINE_MS);
      await new Promise((r) => setTimeout(r, 200));
      carries(await read('4096', '16'), ErrorCode.LIMIT);
      idle.cancel();
      await idle.outcome;
    });

    it('carries RPMEM_E_NO_POOL on a Health check of a pool that does not exist', async () => {
      const service = Buffer.from('rpmem.pool/missing');
      // HealthCheckRequest { service = 1 }, encoded by hand.
      const request = Buffer.concat([Buffer.from([0x0a, service.length]), service]);
      carries(await unaryCall(raw, '/grpc.health.v1.Health/Check', request, DEADLINE_MS), ErrorCode.NO_POOL);
    });

    it("leaves grpc-js's own answers without a code: RESOURCE_EXHAUSTED for a message over max-message-bytes, UNIMPLEMENTED for an unknown method; the initiator maps them to LIMIT and PROTOCOL", async () => {
      const big = await unaryCall(
        raw,
        `${SVC}Stat`,
        encode('StatRequest', { protocolVersion: PROTOCOL_VERSION, name: 'x'.repeat(MAX_MESSAGE_BYTES + 1) }),
        DEADLINE_MS,
      );
      expect(big.code).to.equal(Status.RESOURCE_EXHAUSTED);
      expect(big.rpmemCode).to.equal(undefined);
      const unknown = await unaryCall(raw, `${SVC}Nope`, Buffer.alloc(0), DEADLINE_MS);
      expect(unknown.code).to.equal(Status.UNIMPLEMENTED);
      expect(unknown.rpmemCode).to.equal(undefined);
      expect(fromServiceError({ code: big.code, details: big.details }).code).to.equal(ErrorCode.LIMIT);
      expect(fromServiceError({ code: unknown.code, details: unknown.details }).code).to.equal(ErrorCode.PROTOCOL);
      // And rpmemd serves the next call on the same connection.
      expect((await read('4096', '16')).code).to.equal(Status.OK);
    });
  });
});
