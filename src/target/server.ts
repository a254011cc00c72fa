/**
 * rpmemd's gRPC server: the control plane (Create, Open, Close, Remove, SetAttr, Stat), the Read
 * stream, and the Persist streams it hands to PersistSession. Every thrown error becomes a gRPC
 * status in exactly one place (toServiceError); stack traces stay in the log.
 */
import * as grpc from '@grpc/grpc-js';
import { RpmemError, ErrorCode, toServiceError } from '../common/errors';
import { fromWireAttr, toWireAttr } from '../common/pool-attr';
import { PoolFile } from '../common/pool-file';
import { HEADER_BYTES, rpmemV1, toWireGranularity } from '../common/protocol';
import type { PoolInfo } from '../generated/rpmem/v1/PoolInfo';
import type { TargetHandlers } from '../generated/rpmem/v1/Target';
import type { ReadChunk } from '../generated/rpmem/v1/ReadChunk';
import type { ReadRequest__Output } from '../generated/rpmem/v1/ReadRequest';
import type { ChecksumsRequest__Output } from '../generated/rpmem/v1/ChecksumsRequest';
import type { ChecksumsChunk } from '../generated/rpmem/v1/ChecksumsChunk';
import { TargetConfig, splitListen } from './config';
import type { Log } from './log';
import { PersistCall, PersistSession } from './persist-session';
import { PoolRegistry } from './pool-registry';
import { checkProtocol } from './protocol-check';

const READ_CHUNK_BYTES = 1024 * 1024;
const DIGEST_CHUNK_BYTES = 16 * 1024 * 1024;
const MIN_BLOCK_BYTES = 4096;
const MAX_BLOCK_BYTES = 16 * 1024 * 1024;
const FORCE_SHUTDOWN_AFTER_MS = 5_000;

function poolInfo(name: string, file: PoolFile, writing: boolean): PoolInfo {
  return {
    name,
    poolSize: file.poolSize,
    dataOffset: HEADER_BYTES,
    poolUuid: file.poolUuid,
    attr: toWireAttr(file.attr),
    durableSeq: file.durableSeq.toString(),
    epoch: file.epoch.toString(),
    granularity: toWireGranularity(file.granularity),
    open: writing,
    lsn: file.lsn.toString(),
    syncState: file.syncState === 'syncing' ? 'SYNC_STATE_SYNCING' : 'SYNC_STATE_CLEAN',
  };
}

export class TargetServer {
  private readonly server: grpc.Server;
  private readonly registry: PoolRegistry;
  private readonly sessions = new Set<PersistSession>();
  private draining = false;

  constructor(
    private readonly config: TargetConfig,
    private readonly log: Log,
  ) {
    this.registry = new PoolRegistry(config, log);
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': config.maxMessageBytes,
      'grpc.max_send_message_length': config.maxMessageBytes,
      // Notice a vanished initiator (no FIN: power loss, cut cable) and free its writer handle.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1_000,
    });
    this.server.addService(rpmemV1.Target.service, this.handlers());
  }

  /** Binds the listen address and starts serving; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    this.registry.sweepTemporaryFiles();
    const { host, port } = splitListen(this.config.listen);
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(new RpmemError(ErrorCode.UNAVAILABLE, `cannot listen on ${host}:${port}: ${err.message}`)) : resolve(p),
      );
    });
    this.log.info('listening', { host, port: bound, poolDir: this.config.poolDir, granularity: this.config.granularity });
    return { host, port: bound };
  }

  /**
   * Graceful door: refuse new calls, let every Persist stream make what it received durable and
   * ack it (bounded by shutdown-grace-ms), close the pools, stop the server. The forced door
   * (forceShutdown) follows if calls are still open after that.
   */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info('shutting down', { streams: this.sessions.size });
    const drained = Promise.all([...this.sessions].map((s) => s.shutdown()));
    await withTimeout(drained, this.config.shutdownGraceMs);
    await this.registry.closeAll();
    await withTimeout(new Promise<void>((resolve) => this.server.tryShutdown(() => resolve())), FORCE_SHUTDOWN_AFTER_MS);
    this.server.forceShutdown();
    this.log.info('stopped');
  }

  private handlers(): TargetHandlers {
    return {
      Create: this.unary('Create', async (req) => {
        checkProtocol(req.protocolVersion);
        await this.registry.create(req.name, Number(req.poolSize), fromWireAttr(req.attr));
        return this.registry.withPool(req.name, (file, writing) => poolInfo(req.name, file, writing));
      }),
      Open: this.unary('Open', async (req) => {
        checkProtocol(req.protocolVersion);
        const mode = req.mode === 'OPEN_MODE_READ_ONLY' ? 'read-only' : 'read-write';
        const handle = await this.registry.open(req.name, mode);
        const info = await this.registry.withPool(req.name, (file, writing) => poolInfo(req.name, file, writing));
        return { handle: handle.id, info, maxRangeBytes: this.config.maxRangeBytes };
      }),
      Close: this.unary('Close', async (req) => {
        const handle = this.registry.get(req.handle);
        if (handle.streaming) {
          throw new RpmemError(ErrorCode.BUSY, 'end the Persist stream before closing its handle');
        }
        await this.registry.release(handle);
        return {};
      }),
      Remove: this.unary('Remove', async (req) => {
        checkProtocol(req.protocolVersion);
        await this.registry.remove(req.name);
        return {};
      }),
      SetAttr: this.unary('SetAttr', async (req) => {
        const handle = this.registry.get(req.handle, 'read-write');
        await handle.pool.file.setAttr(fromWireAttr(req.attr));
        return poolInfo(handle.name, handle.pool.file, true);
      }),
      Stat: this.unary('Stat', async (req) => {
        checkProtocol(req.protocolVersion);
        return this.registry.withPool(req.name, (file, writing) => poolInfo(req.name, file, writing));
      }),
      Fence: this.unary('Fence', async (req) => {
        checkProtocol(req.protocolVersion);
        await this.registry.fence(req.name, BigInt(req.epoch));
        return this.registry.withPool(req.name, (file, writing) => poolInfo(req.name, file, writing));
      }),
      SetSyncState: this.unary('SetSyncState', async (req) => {
        const handle = this.registry.get(req.handle, 'read-write');
        await handle.pool.file.setSyncState(req.syncState === 'SYNC_STATE_SYNCING' ? 'syncing' : 'clean', BigInt(req.lsn));
        return poolInfo(handle.name, handle.pool.file, true);
      }),
      Checksums: (call: grpc.ServerWritableStream<ChecksumsRequest__Output, ChecksumsChunk>) => {
        this.checksums(call).catch((err: unknown) => {
          this.logFailure('Checksums', err);
          call.emit('error', toServiceError(err));
        });
      },
      Persist: (call: PersistCall) => this.persist(call),
      Read: (call: grpc.ServerWritableStream<ReadRequest__Output, ReadChunk>) => {
        this.read(call).catch((err: unknown) => {
          this.logFailure('Read', err);
          call.emit('error', toServiceError(err));
        });
      },
    };
  }

  private persist(call: PersistCall): void {
    if (this.draining) {
      call.emit('error', toServiceError(new RpmemError(ErrorCode.SHUTDOWN, 'target is shutting down')));
      return;
    }
    const session = new PersistSession(call, this.registry, this.config, this.log);
    this.sessions.add(session);
    void session.done.then(() => this.sessions.delete(session));
  }

  private async read(call: grpc.ServerWritableStream<ReadRequest__Output, ReadChunk>): Promise<void> {
    this.refuseWhileDraining();
    const file = this.registry.get(call.request.handle).pool.file;
    const { offset, length } = this.dataRange(file, call.request.offset, call.request.length);
    for (let at = offset; at < offset + length && !call.cancelled; at += READ_CHUNK_BYTES) {
      const chunk = file.read(at, Math.min(READ_CHUNK_BYTES, offset + length - at));
      if (!call.write({ data: chunk })) await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
  }

  /** Streams block digests, a chunk of blocks at a time, yielding between chunks so hashing a large pool never stalls the daemon. */
  private async checksums(call: grpc.ServerWritableStream<ChecksumsRequest__Output, ChecksumsChunk>): Promise<void> {
    this.refuseWhileDraining();
    const { blockBytes } = call.request;
    const file = this.registry.get(call.request.handle).pool.file;
    const { offset, length } = this.dataRange(file, call.request.offset, call.request.length);
    if (blockBytes < MIN_BLOCK_BYTES || blockBytes > MAX_BLOCK_BYTES || (blockBytes & (blockBytes - 1)) !== 0) {
      throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `block_bytes must be a power of two from ${MIN_BLOCK_BYTES} to ${MAX_BLOCK_BYTES}, got ${blockBytes}`);
    }
    const chunkBytes = Math.max(blockBytes, DIGEST_CHUNK_BYTES);
    for (let at = offset; at < offset + length && !call.cancelled; at += chunkBytes) {
      const digests = file.digests(at, Math.min(chunkBytes, offset + length - at), blockBytes);
      if (!call.write({ digests })) await new Promise((resolve) => call.once('drain', resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    call.end();
  }

  /** Validates a wire range against the data area; throws EMPTY_RANGE or OUT_OF_RANGE. */
  private dataRange(file: PoolFile, rawOffset: string, rawLength: string): { offset: number; length: number } {
    const offset = Number(rawOffset);
    const length = Number(rawLength);
    if (!Number.isSafeInteger(length) || length <= 0) throw new RpmemError(ErrorCode.EMPTY_RANGE, 'length must be positive');
    if (!Number.isSafeInteger(offset) || offset < HEADER_BYTES || offset + length > file.poolSize) {
      throw new RpmemError(ErrorCode.OUT_OF_RANGE, `[${rawOffset}, +${rawLength}) is outside the data area [${HEADER_BYTES}, ${file.poolSize})`);
    }
    return { offset, length };
  }

  /** Wraps a unary handler: refuses calls while draining and maps every error to a status. */
  private unary<Req, Res>(method: string, handler: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => {
          this.refuseWhileDraining();
          return handler(call.request);
        })
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            this.logFailure(method, err);
            callback(toServiceError(err));
          },
        );
    };
  }

  private refuseWhileDraining(): void {
    if (this.draining) throw new RpmemError(ErrorCode.SHUTDOWN, 'target is shutting down');
  }

  private logFailure(method: string, err: unknown): void {
    if (err instanceof RpmemError && err.code !== ErrorCode.INTERNAL) {
      this.log.debug('request refused', { method, code: err.code, err: err.message });
    } else {
      this.log.error('request failed', { method, err: err instanceof Error ? err.stack : String(err) });
    }
  }
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void work.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
