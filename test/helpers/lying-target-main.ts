/**
 * A Target that lies about durability, run as its own process by lying-target.ts: rpmemd never
 * sends an undeclared Durability or an ack that contradicts its Open, so the initiator's refusal
 * of both can only be shown against a peer built to. The pool's name says what it lies about:
 *
 * - `info-N`: Open and Stat report PoolInfo.durability = N;
 * - `ack-N`: Open reports DURABILITY_PAGE, and every PersistAck carries durability = N;
 * - `overack`: every PersistAck names one seq more than the batch's last (a range never sent);
 * - anything else: DURABILITY_PAGE everywhere (the positive control).
 *
 * Prints `listening PORT` once it serves on 127.0.0.1; Persist acks every batch at its last seq.
 */
import * as grpc from '@grpc/grpc-js';
import type { DecodedPersistRequest, PersistAckFrame } from '../../src/wire/persist-codec';
import { targetService } from '../../src/wire/protocol';
import { HEADER_BYTES } from '../../src/storage/pool-header';
import type { OpenRequest__Output } from '../../src/generated/rpmem/v1/OpenRequest';
import type { PoolInfo } from '../../src/generated/rpmem/v1/PoolInfo';
import type { StatRequest__Output } from '../../src/generated/rpmem/v1/StatRequest';

const PAGE = 2;
const POOL_BYTES = HEADER_BYTES + 1024 * 1024;

function lie(name: string, kind: 'info' | 'ack'): number {
  const m = /^(info|ack)-(\d+)$/.exec(name);
  return m !== null && m[1] === kind ? Number(m[2]) : PAGE;
}

function info(name: string): PoolInfo {
  return {
    name,
    poolSize: POOL_BYTES,
    dataOffset: HEADER_BYTES,
    poolUuid: Buffer.alloc(16, 1),
    durableSeq: 0,
    epoch: 1,
    granularity: 'GRANULARITY_PAGE',
    durability: lie(name, 'info') as PoolInfo['durability'],
  };
}

const handles = new Map<string, string>();
const server = new grpc.Server();
// targetService's Persist speaks persist-codec, whose ack encoder writes the durability number as given.
server.addService(targetService, {
  Open: (call: grpc.ServerUnaryCall<OpenRequest__Output, unknown>, done: grpc.sendUnaryData<unknown>) => {
    const handle = `h-${handles.size + 1}`;
    handles.set(handle, call.request.name);
    done(null, { handle, info: info(call.request.name), maxRangeBytes: POOL_BYTES, maxBatchRanges: 1024 });
  },
  Stat: (call: grpc.ServerUnaryCall<StatRequest__Output, unknown>, done: grpc.sendUnaryData<unknown>) =>
    done(null, info(call.request.name)),
  Close: (_call: unknown, done: grpc.sendUnaryData<unknown>) => done(null, {}),
  Persist: (call: grpc.ServerDuplexStream<DecodedPersistRequest, PersistAckFrame>) => {
    let name = '';
    call.on('data', (req: DecodedPersistRequest) => {
      if (req.kind === 'start') name = handles.get(req.start.handle) ?? '';
      if (req.kind === 'batch' && req.ranges.length > 0) {
        const last = req.ranges[req.ranges.length - 1].seq;
        call.write({ durableSeq: name === 'overack' ? last + 1 : last, granularity: 'page', durability: lie(name, 'ack') });
      }
    });
    call.on('end', () => call.end());
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
