/**
 * A connection to one target: the grpc-js client plus promise-returning control-plane calls whose
 * errors are already RpmemErrors (converted in fromServiceError, nowhere else).
 */
import * as grpc from '@grpc/grpc-js';
import { fromServiceError } from '../wire/status';
import type { PersistAckFrame } from '../wire/persist-codec';
import { OutgoingPersistRequest, persistMethod, rpmemV1 } from '../wire/protocol';
import type { TargetClient as GrpcTargetClient } from '../generated/rpmem/v1/Target';
import type { CreateRequest } from '../generated/rpmem/v1/CreateRequest';
import type { OpenRequest } from '../generated/rpmem/v1/OpenRequest';
import type { OpenResponse__Output } from '../generated/rpmem/v1/OpenResponse';
import type { CloseRequest } from '../generated/rpmem/v1/CloseRequest';
import type { RemoveRequest } from '../generated/rpmem/v1/RemoveRequest';
import type { SetAttrRequest } from '../generated/rpmem/v1/SetAttrRequest';
import type { StatRequest } from '../generated/rpmem/v1/StatRequest';
import type { ListRequest } from '../generated/rpmem/v1/ListRequest';
import type { ListResponse__Output } from '../generated/rpmem/v1/ListResponse';
import type { PoolInfo__Output } from '../generated/rpmem/v1/PoolInfo';
import type { FenceRequest } from '../generated/rpmem/v1/FenceRequest';
import type { ReadRequest } from '../generated/rpmem/v1/ReadRequest';
import type { ReadChunk__Output } from '../generated/rpmem/v1/ReadChunk';
import type { ChecksumsRequest } from '../generated/rpmem/v1/ChecksumsRequest';
import type { ChecksumsChunk__Output } from '../generated/rpmem/v1/ChecksumsChunk';
import type { SetSyncStateRequest } from '../generated/rpmem/v1/SetSyncStateRequest';
import { ConnectOptions, DEFAULT_CALL_TIMEOUT_MS } from './options';

/** Largest message the initiator accepts (Read chunks are 1 MiB). */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

export class TargetClient {
  readonly grpc: GrpcTargetClient;
  private readonly callTimeoutMs: number;

  /** Sent with every call: the bearer token, when one is configured. */
  private readonly metadata: grpc.Metadata;

  constructor(
    readonly address: string,
    options: ConnectOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const tls = options.tls;
    const pem = (v: Buffer | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));
    const credentials =
      tls === undefined ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
    this.grpc = new rpmemV1.Target(address, credentials, {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      'grpc.max_send_message_length': -1,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
      ...options.channelOptions,
    });
    this.metadata = new grpc.Metadata();
    if (options.token !== undefined) this.metadata.set('authorization', `Bearer ${options.token}`);
  }

  /** Opens a Persist stream, framed by persist-codec rather than the generated client's proto-loader serializer. */
  persist(): grpc.ClientDuplexStream<OutgoingPersistRequest, PersistAckFrame> {
    const m = persistMethod;
    return this.grpc.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, this.metadata.clone());
  }

  /** Opens a Read stream. */
  read(req: ReadRequest): grpc.ClientReadableStream<ReadChunk__Output> {
    return this.grpc.Read(req, this.metadata.clone());
  }

  /** Opens a Checksums stream. */
  checksums(req: ChecksumsRequest): grpc.ClientReadableStream<ChecksumsChunk__Output> {
    return this.grpc.Checksums(req, this.metadata.clone());
  }

  create(req: CreateRequest): Promise<PoolInfo__Output> {
    return this.call<CreateRequest, PoolInfo__Output>(this.grpc.Create, req);
  }

  open(req: OpenRequest): Promise<OpenResponse__Output> {
    return this.call<OpenRequest, OpenResponse__Output>(this.grpc.Open, req);
  }

  closeHandle(req: CloseRequest): Promise<unknown> {
    return this.call<CloseRequest, unknown>(this.grpc.Close, req);
  }

  remove(req: RemoveRequest): Promise<unknown> {
    return this.call<RemoveRequest, unknown>(this.grpc.Remove, req);
  }

  setAttr(req: SetAttrRequest): Promise<PoolInfo__Output> {
    return this.call<SetAttrRequest, PoolInfo__Output>(this.grpc.SetAttr, req);
  }

  stat(req: StatRequest): Promise<PoolInfo__Output> {
    return this.call<StatRequest, PoolInfo__Output>(this.grpc.Stat, req);
  }

  list(req: ListRequest): Promise<ListResponse__Output> {
    return this.call<ListRequest, ListResponse__Output>(this.grpc.List, req);
  }

  fence(req: FenceRequest): Promise<PoolInfo__Output> {
    return this.call<FenceRequest, PoolInfo__Output>(this.grpc.Fence, req);
  }

  setSyncState(req: SetSyncStateRequest): Promise<PoolInfo__Output> {
    return this.call<SetSyncStateRequest, PoolInfo__Output>(this.grpc.SetSyncState, req);
  }

  /** Calls a unary method with the control-plane deadline; rejects with RpmemError. */
  private call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req): Promise<Res> {
    const deadline = Date.now() + this.callTimeoutMs;
    return new Promise<Res>((resolve, reject) => {
      method.call(this.grpc, req, this.metadata.clone(), { deadline }, (err, res) =>
        err ? reject(fromServiceError(err)) : resolve(res as Res),
      );
    });
  }

  /** Closes the channel. (The generated client's own `close` is the Close RPC, hence the prototype call.) */
  close(): void {
    grpc.Client.prototype.close.call(this.grpc);
  }
}
