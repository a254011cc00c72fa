/**
 * rpmemd's gRPC server: the control plane (Create, Open, Close, Remove, SetAttr, Stat, List), the
 * Read stream, and the Persist streams it hands to PersistSession; beside them the standard Health
 * and reflection services, and the metrics endpoint when configured. Every thrown error becomes a
 * gRPC status in exactly one place (toServiceError); stack traces stay in the log.
 */
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { isVolatileFsType } from '../storage/durability';
import { RpmemError, ErrorCode } from '../storage/errors';
import { toServiceError } from '../wire/status';
import {
  fromWireAttr,
  fromWireClaim,
  fromWireDurabilityRequirement,
  fromWireOpenMode,
  fromWireSyncState,
  toWirePoolInfo,
} from '../wire/conversions';
import { PoolFile } from '../storage/pool-file';
import { decodePersistRequest } from '../wire/persist-codec';
import { TargetServiceHandlers, persistMethod, targetService } from '../wire/protocol';
import { HEADER_BYTES, NO_CLAIMANT } from '../storage/pool-header';
import { checkEpochValue } from '../storage/epoch-claim';
import type { PoolInfo } from '../generated/rpmem/v1/PoolInfo';
import type { ReadChunk } from '../generated/rpmem/v1/ReadChunk';
import type { ReadRequest__Output } from '../generated/rpmem/v1/ReadRequest';
import type { ChecksumsRequest__Output } from '../generated/rpmem/v1/ChecksumsRequest';
import type { ChecksumsChunk } from '../generated/rpmem/v1/ChecksumsChunk';
import { splitListen } from './config';
import type { TargetConfig } from './config-keys';
import type { Log } from './log';
import { PersistCall, PersistSession } from './persist-session';
import { PoolRegistry } from './pool-registry';
import { checkProtocol } from './protocol-check';
import { Authenticator, Principal } from './auth';
import { authInterceptor } from './auth-interceptor';
import { refuseMalformed, tolerateMalformedRequests } from './malformed-request';
import { StreamLimiter } from './stream-limiter';
import { isLoopback, serverCredentials } from './tls';
import { FLOW_CONTROL_OPTION, raiseReceiveWindow } from './http2-window';
import { logSessionErrors } from './session-errors';
import { TargetHealth } from './health';
import { TargetMetrics } from './metrics';
import { addReflection } from './reflection';

/**
 * A stalled Read holds its chunk about three times over (read from the pool, serialized, framed by
 * grpc-js) until the client reads it: 256 KiB keeps that under the 1 MiB per stream promised in
 * docs/security.md (Limits), and is still large enough that per-message costs do not show in a read's throughput.
 */
const READ_CHUNK_BYTES = 256 * 1024;
const DIGEST_CHUNK_BYTES = 16 * 1024 * 1024;
const MIN_BLOCK_BYTES = 4096;
const MAX_BLOCK_BYTES = 16 * 1024 * 1024;
const FORCE_SHUTDOWN_AFTER_MS = 5_000;

export class TargetServer {
  private readonly server: grpc.Server;
  private readonly registry: PoolRegistry;
  private readonly sessions = new Set<PersistSession>();
  private readonly auth: Authenticator;
  private readonly streams: StreamLimiter;
  private readonly health: TargetHealth;
  private readonly metrics?: TargetMetrics;
  private draining = false;

  constructor(
    private readonly config: TargetConfig,
    private readonly log: Log,
  ) {
    this.registry = new PoolRegistry(config, log);
    this.auth = config.authTokenFile === undefined ? Authenticator.open() : Authenticator.load(config.authTokenFile);
    this.streams = new StreamLimiter({
      maxStreams: config.maxStreams,
      perSecond: config.maxNewStreamsPerSecond,
      perPeer: config.maxStreamsPerPeer,
      perPrincipal: config.maxStreamsPerPrincipal,
    });
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': config.maxMessageBytes,
      // Each stream may buffer up to max-message-bytes before its handler runs: bound the streams of one connection.
      'grpc.max_concurrent_streams': config.maxStreamsPerConnection,
      'grpc.max_send_message_length': config.maxMessageBytes,
      // Notice a vanished initiator (no FIN: power loss, cut cable) and free its writer handle.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1_000,
      ...FLOW_CONTROL_OPTION,
      interceptors: [authInterceptor(this.auth, (method, err, call) => this.logFailure(method, err, call))],
    });
    // Persist's stream messages are checked by PersistSession itself (persist-codec never throws);
    // its decoder stops at max-batch-ranges, so an oversized batch costs no per-range memory.
    const persist = { ...persistMethod, requestDeserialize: (bytes: Buffer) => decodePersistRequest(bytes, config.maxBatchRanges) };
    this.server.addService({ ...tolerateMalformedRequests(targetService, ['Persist']), Persist: persist }, this.handlers());
    this.health = new TargetHealth((name, metadata) => {
      this.auth.authenticate(metadata).authorize(name, 'read');
      return this.registry.withPool(name, () => undefined);
    });
    this.health.addToServer(this.server);
    addReflection(this.server);
    if (config.metrics !== undefined) {
      this.metrics = new TargetMetrics(
        config.metrics,
        { openFiles: () => this.registry.openFiles(), streams: () => this.sessions.size },
        log,
      );
    }
  }

  /** Binds the listen address and starts serving; resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    this.registry.sweepTemporaryFiles();
    await this.metrics?.start();
    const { host, port } = splitListen(this.config.listen);
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, serverCredentials(this.config), (err, p) =>
        err ? reject(new RpmemError(ErrorCode.UNAVAILABLE, `cannot listen on ${host}:${port}: ${err.message}`)) : resolve(p),
      );
    });
    raiseReceiveWindow(this.server, this.log, (headers) => this.auth.isWriter(grpc.Metadata.fromHttp2Headers(headers)));
    logSessionErrors(this.server, this.log);
    this.log.info('listening', {
      host,
      port: bound,
      poolDir: this.config.poolDir,
      granularity: this.config.granularity,
      tls: !this.config.insecure,
      mutualTls: this.config.tlsCa !== undefined,
    });
    if (isVolatileFsType(fs.statfsSync(this.config.poolDir).type)) {
      this.log.warn("the pool dir is on a RAM file system: every pool here is emulated, it survives rpmemd's death but not power loss", {
        poolDir: this.config.poolDir,
      });
    }
    if (this.config.insecure && !isLoopback(host)) {
      this.log.warn('serving PLAINTEXT on a non-loopback address: anyone on the network can read and write pools', { host });
    }
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
    this.health.drain();
    this.log.info('shutting down', { streams: this.sessions.size });
    const drained = Promise.all([...this.sessions].map((s) => s.shutdown()));
    await withTimeout(drained, this.config.shutdownGraceMs);
    await this.registry.closeAll();
    await withTimeout(new Promise<void>((resolve) => this.server.tryShutdown(() => resolve())), FORCE_SHUTDOWN_AFTER_MS);
    this.server.forceShutdown();
    await this.metrics?.close();
    this.log.info('stopped');
  }

  private handlers(): TargetServiceHandlers {
    return {
      Create: this.unary('Create', async (req, caller) => {
        checkProtocol(req.protocolVersion);
        caller.authorize(req.name, 'write');
        await this.registry.create(req.name, this.poolSize(req.poolSize), fromWireAttr(req.attr));
        return this.info(req.name);
      }),
      Open: this.unary('Open', async (req, caller, peer) => {
        checkProtocol(req.protocolVersion);
        const mode = fromWireOpenMode(req.mode);
        const claim = fromWireClaim(req.epoch, req.claimant);
        const required = fromWireDurabilityRequirement(req.requireDurability);
        caller.authorize(req.name, mode === 'read-only' ? 'read' : 'write');
        const handle = await this.registry.open(req.name, mode, peer, { claim, required });
        return {
          handle: handle.id,
          info: await this.info(req.name),
          maxRangeBytes: this.config.maxRangeBytes,
          maxBatchRanges: this.config.maxBatchRanges,
          impliedSeq: true,
        };
      }),
      Close: this.unary('Close', async (req, caller) => {
        const handle = this.registry.get(req.handle);
        caller.authorize(handle.name, 'read');
        if (handle.streaming) {
          throw new RpmemError(ErrorCode.BUSY, 'end the Persist stream before closing its handle');
        }
        await this.registry.release(handle);
        return {};
      }),
      Remove: this.unary('Remove', async (req, caller) => {
        checkProtocol(req.protocolVersion);
        caller.authorize(req.name, 'write');
        await this.registry.remove(req.name);
        return {};
      }),
      SetAttr: this.unary('SetAttr', async (req, caller) => {
        const handle = this.registry.get(req.handle, 'read-write');
        caller.authorize(handle.name, 'write');
        await handle.pool.file.setAttr(fromWireAttr(req.attr));
        return this.info(handle.name);
      }),
      Stat: this.unary('Stat', async (req, caller) => {
        checkProtocol(req.protocolVersion);
        caller.authorize(req.name, 'read');
        return this.info(req.name);
      }),
      List: this.unary('List', async (req, caller) => {
        checkProtocol(req.protocolVersion);
        const pools: PoolInfo[] = [];
        for (const name of this.registry.names().filter((n) => caller.covers(n))) {
          // A file that is no readable pool, or was removed meanwhile, is left out rather than failing the listing.
          await this.registry
            .withPool(name, (file) => pools.push(toWirePoolInfo(name, file, this.registry.holder(name))))
            .catch((err: unknown) => this.log.warn('pool left out of List', { pool: name, err: String(err) }));
        }
        return { pools };
      }),
      Fence: this.unary('Fence', async (req, caller) => {
        checkProtocol(req.protocolVersion);
        const claim = fromWireClaim(req.epoch, req.claimant);
        if (claim === undefined) throw new RpmemError(ErrorCode.INVALID_ARGUMENT, 'epoch must be at least 1');
        caller.authorize(req.name, 'write');
        await this.registry.fence(req.name, claim);
        return this.info(req.name);
      }),
      SetSyncState: this.unary('SetSyncState', async (req, caller) => {
        const handle = this.registry.get(req.handle, 'read-write');
        const state = fromWireSyncState(req.syncState);
        const lsn = checkEpochValue(BigInt(req.lsn), 'lsn');
        // A writer that states no claim is taken at its handle's, else as none: refused on a claimed pool.
        const claim = fromWireClaim(req.epoch, req.claimant) ?? handle.claim ?? { epoch: handle.pool.file.epoch, claimant: NO_CLAIMANT };
        caller.authorize(handle.name, 'write');
        await handle.pool.file.setSyncState(state, lsn, claim);
        return this.info(handle.name);
      }),
      Checksums: (call: grpc.ServerWritableStream<ChecksumsRequest__Output, ChecksumsChunk>) =>
        this.serverStream('Checksums', call, (caller) => this.checksums(call, caller)),
      Persist: (call: PersistCall) => this.persist(call),
      Read: (call: grpc.ServerWritableStream<ReadRequest__Output, ReadChunk>) =>
        this.serverStream('Read', call, (caller) => this.read(call, caller)),
    };
  }

  /** Pool `name` as Stat reports it, with who holds it for writing. */
  private info(name: string): Promise<PoolInfo> {
    return this.registry.withPool(name, (file) => toWirePoolInfo(name, file, this.registry.holder(name)));
  }

  private persist(call: PersistCall): void {
    let caller: Principal;
    let release: () => void;
    try {
      this.refuseWhileDraining();
      caller = this.auth.authenticate(call.metadata);
      release = this.streams.admit(call.getPeer(), caller.id);
    } catch (err) {
      this.logFailure('Persist', err, call);
      call.emit('error', toServiceError(err));
      return;
    }
    const session = new PersistSession(call, this.registry, this.config, this.log, caller, this.metrics);
    this.sessions.add(session);
    void session.done.then(() => {
      this.sessions.delete(session);
      release();
    });
  }

  /** Runs a server-streaming call: authenticates, admits it under the stream limits, maps errors. */
  private serverStream<Req, Res>(
    method: string,
    call: grpc.ServerWritableStream<Req, Res>,
    run: (caller: Principal) => Promise<void>,
  ): void {
    let release = (): void => undefined;
    Promise.resolve()
      .then(() => {
        this.refuseWhileDraining();
        const caller = this.auth.authenticate(call.metadata);
        refuseMalformed(call.request);
        release = this.streams.admit(call.getPeer(), caller.id);
        return run(caller);
      })
      .catch((err: unknown) => {
        this.logFailure(method, err, call);
        call.emit('error', toServiceError(err));
      })
      .finally(() => release());
  }

  private async read(call: grpc.ServerWritableStream<ReadRequest__Output, ReadChunk>, caller: Principal): Promise<void> {
    const handle = this.registry.get(call.request.handle);
    caller.authorize(handle.name, 'read');
    const { offset, length } = this.dataRange(handle.pool.file, call.request.offset, call.request.length);
    for (let at = offset; at < offset + length; at += READ_CHUNK_BYTES) {
      // Looked up again before every chunk, in the same tick as the read: a Close in between ends
      // this stream with BAD_HANDLE instead of reading an unmapped pool.
      const file = this.registry.get(call.request.handle).pool.file;
      const chunk = file.read(at, Math.min(READ_CHUNK_BYTES, offset + length - at));
      if (!(await this.sent(call, { data: chunk }))) return;
    }
    call.end();
  }

  /** Streams block digests, a chunk of blocks at a time, yielding between chunks so hashing a large pool never stalls the daemon. */
  private async checksums(call: grpc.ServerWritableStream<ChecksumsRequest__Output, ChecksumsChunk>, caller: Principal): Promise<void> {
    const { blockBytes } = call.request;
    const handle = this.registry.get(call.request.handle);
    caller.authorize(handle.name, 'read');
    const { offset, length } = this.dataRange(handle.pool.file, call.request.offset, call.request.length);
    if (blockBytes < MIN_BLOCK_BYTES || blockBytes > MAX_BLOCK_BYTES || (blockBytes & (blockBytes - 1)) !== 0) {
      throw new RpmemError(
        ErrorCode.INVALID_ARGUMENT,
        `block_bytes must be a power of two from ${MIN_BLOCK_BYTES} to ${MAX_BLOCK_BYTES}, got ${blockBytes}`,
      );
    }
    const chunkBytes = Math.max(blockBytes, DIGEST_CHUNK_BYTES);
    for (let at = offset; at < offset + length; at += chunkBytes) {
      const file = this.registry.get(call.request.handle).pool.file;
      const digests = file.digests(at, Math.min(chunkBytes, offset + length - at), blockBytes);
      if (!(await this.sent(call, { digests }))) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
    call.end();
  }

  /**
   * Writes `msg` and waits until grpc-js has flushed it (its write callback), so a stream never holds
   * more than one message of ours; resolves false if the call was cancelled, closed or stayed stuck
   * for idle-stream-ms instead.
   */
  private sent<T>(call: grpc.ServerWritableStream<unknown, T>, msg: T): Promise<boolean> {
    if (call.cancelled || call.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (ok: boolean): void => {
        clearTimeout(timer);
        call.off('cancelled', onGone);
        call.off('close', onGone);
        resolve(ok);
      };
      const onGone = (): void => settle(false);
      const timer =
        this.config.idleStreamMs > 0
          ? setTimeout(() => {
              call.destroy();
              settle(false);
            }, this.config.idleStreamMs)
          : undefined;
      call.once('cancelled', onGone);
      call.once('close', onGone);
      call.write(msg, (err?: Error | null) => settle(!err));
    });
  }

  /**
   * Validates a wire range against the data area, exactly (as the uint64s they are, so a length of
   * 2^53 or more is too long, not empty); throws EMPTY_RANGE or OUT_OF_RANGE.
   */
  private dataRange(file: PoolFile, rawOffset: string, rawLength: string): { offset: number; length: number } {
    const offset = BigInt(rawOffset);
    const length = BigInt(rawLength);
    if (length === 0n) throw new RpmemError(ErrorCode.EMPTY_RANGE, 'length must be positive');
    if (offset < BigInt(HEADER_BYTES) || offset + length > BigInt(file.poolSize)) {
      throw new RpmemError(
        ErrorCode.OUT_OF_RANGE,
        `[${rawOffset}, +${rawLength}) is outside the data area [${HEADER_BYTES}, ${file.poolSize})`,
      );
    }
    return { offset: Number(offset), length: Number(length) };
  }

  /** Create's pool_size, checked as the exact uint64 it is so that the error names the value sent; throws INVALID_ARGUMENT or LIMIT. */
  private poolSize(raw: string): number {
    const size = BigInt(raw);
    if (size <= BigInt(HEADER_BYTES))
      throw new RpmemError(ErrorCode.INVALID_ARGUMENT, `pool_size must exceed the ${HEADER_BYTES}-byte header, got ${raw}`);
    if (size > BigInt(this.config.maxPoolBytes)) {
      throw new RpmemError(
        ErrorCode.LIMIT,
        `pool_size ${raw} exceeds this target's maximum of ${this.config.maxPoolBytes} bytes (max-pool-bytes)`,
      );
    }
    return Number(size);
  }

  /** Wraps a unary handler: refuses calls while draining, authenticates, and maps every error to a status. */
  private unary<Req, Res>(
    method: string,
    handler: (req: Req, caller: Principal, peer: string) => Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => {
          this.refuseWhileDraining();
          const caller = this.auth.authenticate(call.metadata);
          refuseMalformed(call.request);
          return handler(call.request, caller, call.getPeer());
        })
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            this.logFailure(method, err, call);
            callback(toServiceError(err));
          },
        );
    };
  }

  private refuseWhileDraining(): void {
    if (this.draining) throw new RpmemError(ErrorCode.SHUTDOWN, 'target is shutting down');
  }

  /** Logs a failed call with its peer and pool (never its metadata: it may carry a token). */
  private logFailure(method: string, err: unknown, call?: { getPeer(): string; request?: unknown }): void {
    const context = { method, peer: call?.getPeer(), pool: (call?.request as { name?: string } | undefined)?.name || undefined };
    this.metrics?.failed(method, err instanceof RpmemError ? err.code : ErrorCode.INTERNAL);
    if (err instanceof RpmemError && err.code !== ErrorCode.INTERNAL) {
      this.log.debug('request refused', { ...context, code: err.code, err: err.message });
    } else {
      this.log.error('request failed', { ...context, err: err instanceof Error ? err.stack : String(err) });
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
