/**
 * A raw Persist stream for hostile-input tests: sends whatever frames the test builds, bypassing
 * RemotePool's own validation, and collects the acks and the final status. It uses the generated
 * client's stock proto-loader serializer, not persist-codec, so every test through it also shows
 * that a stock protobuf client interoperates with rpmemd.
 */
import * as grpc from '@grpc/grpc-js';
import { RpmemError } from '../../src/storage/errors';
import { fromServiceError } from '../../src/wire/status';
import { crc32c } from '../../src/storage/native';
import { PROTOCOL_VERSION } from '../../src/wire/protocol';
import type { PersistAck__Output } from '../../src/generated/rpmem/v1/PersistAck';
import type { PersistRequest } from '../../src/generated/rpmem/v1/PersistRequest';
import type { Range } from '../../src/generated/rpmem/v1/Range';
import { TargetClient } from '../../src/initiator/target-client';

export interface RawOutcome {
  acks: bigint[];
  /** The stream's final status: OK, or the error as an RpmemError plus its raw gRPC status. */
  status: number;
  error?: RpmemError;
}

/** A well-formed range: data of `length` bytes filled with `fill`, correct CRC. */
export function range(seq: bigint, offset: number, length: number, fill = 0xab): Range {
  const data = Buffer.alloc(length, fill);
  return { seq: seq.toString(), offset, data, crc32c: crc32c(data), flags: 0 };
}

export class RawPersist {
  private readonly call: grpc.ClientDuplexStream<PersistRequest, PersistAck__Output>;
  readonly acks: bigint[] = [];
  readonly outcome: Promise<RawOutcome>;

  constructor(client: TargetClient) {
    this.call = client.grpc.Persist();
    this.call.on('data', (ack: PersistAck__Output) => this.acks.push(BigInt(ack.durableSeq)));
    let error: RpmemError | undefined;
    this.call.on('error', (err) => (error = fromServiceError(err)));
    this.outcome = new Promise((resolve) =>
      this.call.on('status', (s: grpc.StatusObject) => {
        // 'error' fires before 'status' for a failed call; let it land first.
        setImmediate(() => resolve({ acks: this.acks, status: s.code, error }));
      }),
    );
  }

  start(handle: string, protocolVersion = PROTOCOL_VERSION): this {
    this.call.write({ start: { protocolVersion, handle } });
    return this;
  }

  send(...ranges: Range[]): this {
    this.call.write({ batch: { ranges } });
    return this;
  }

  write(msg: PersistRequest): this {
    this.call.write(msg);
    return this;
  }

  end(): Promise<RawOutcome> {
    this.call.end();
    return this.outcome;
  }
}
