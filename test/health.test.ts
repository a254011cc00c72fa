/**
 * The standard gRPC services on rpmemd, called through grpc-js as grpcurl or a load balancer
 * would: grpc.health.v1.Health (overall, per service, per pool, and NOT_SERVING on drain) and
 * server reflection (what `grpcurl list` asks).
 */
import { expect } from 'chai';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { RemotePool } from '../src/initiator/remote-pool';
import { TestTarget } from './helpers/test-target';

const LOAD_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const REFLECTION_PROTO = path.join(
  path.dirname(require.resolve('@grpc/reflection')),
  '..',
  'proto',
  'grpc',
  'reflection',
  'v1',
  'reflection.proto',
);

type Ctor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;

function clientOf(protoFile: string, service: string, address: string): grpc.Client & Record<string, CallableFunction> {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, LOAD_OPTIONS)) as unknown as Record<string, unknown>;
  const Client = service.split('.').reduce((o: unknown, k) => (o as Record<string, unknown>)[k], pkg) as Ctor;
  return new Client(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, CallableFunction>;
}

describe('rpmemd health and reflection', () => {
  let target: TestTarget;
  let health: grpc.Client & Record<string, CallableFunction>;

  before(async () => {
    target = await TestTarget.start();
    health = clientOf(healthProtoPath, 'grpc.health.v1.Health', target.address);
    const pool = await RemotePool.create(target.address, 'healthy', { size: 1 << 20 });
    await pool.close();
  });

  after(async () => {
    health.close();
    await target.stop();
  });

  function check(service: string): Promise<{ status?: string; code?: number }> {
    return new Promise((resolve) => {
      health.Check({ service }, (err: grpc.ServiceError | null, res: { status: string }) =>
        resolve(err ? { code: err.code } : { status: res.status }),
      );
    });
  }

  it('answers SERVING for the server and rpmem.v1.Target, NOT_FOUND for an unknown service', async () => {
    expect(await check('')).to.deep.equal({ status: 'SERVING' });
    expect(await check('rpmem.v1.Target')).to.deep.equal({ status: 'SERVING' });
    expect(await check('no.such.Service')).to.deep.equal({ code: grpc.status.NOT_FOUND });
  });

  it('answers per pool: SERVING for an existing pool, NOT_FOUND for a missing or invalid name', async () => {
    expect(await check('rpmem.pool/healthy')).to.deep.equal({ status: 'SERVING' });
    expect(await check('rpmem.pool/missing')).to.deep.equal({ code: grpc.status.NOT_FOUND });
    expect(await check('rpmem.pool/../etc')).to.deep.equal({ code: grpc.status.NOT_FOUND });
    // Open for writing by a client: still SERVING.
    const pool = await RemotePool.open(target.address, 'healthy');
    try {
      expect(await check('rpmem.pool/healthy')).to.deep.equal({ status: 'SERVING' });
    } finally {
      await pool.close();
    }
  });

  it('lists rpmem.v1.Target and grpc.health.v1.Health through server reflection, and describes them', async () => {
    const reflection = clientOf(REFLECTION_PROTO, 'grpc.reflection.v1.ServerReflection', target.address);
    const call = (
      reflection.ServerReflectionInfo as () => grpc.ClientDuplexStream<
        unknown,
        Record<string, { service?: Array<{ name: string }>; file_descriptor_proto?: Buffer[] }>
      >
    )();
    const responses: Array<Record<string, { service?: Array<{ name: string }>; file_descriptor_proto?: Buffer[] }>> = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r) => {
        responses.push(r);
        if (responses.length === 2) call.end();
      });
      call.on('error', reject);
      call.on('end', resolve);
    });
    call.write({ list_services: '*' });
    call.write({ file_containing_symbol: 'rpmem.v1.Target' });
    await done;
    reflection.close();
    const names = responses[0].list_services_response.service!.map((s) => s.name);
    expect(names).to.include.members(['rpmem.v1.Target', 'grpc.health.v1.Health']);
    const files = responses[1].file_descriptor_response.file_descriptor_proto!;
    expect(files.length).to.be.greaterThan(0);
    expect(Buffer.concat(files).includes('Persist')).to.equal(true);
  });

  it('turns NOT_SERVING for Watch subscribers as soon as a shutdown starts', async () => {
    const draining = await TestTarget.start();
    const client = clientOf(healthProtoPath, 'grpc.health.v1.Health', draining.address);
    const call = (client.Watch as (req: unknown) => grpc.ClientReadableStream<{ status: string }>)({ service: '' });
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      call.on('data', ({ status }) => {
        seen.push(status);
        if (status === 'SERVING') draining.signal('SIGTERM');
        if (status === 'NOT_SERVING') resolve();
      });
      call.on('error', () => resolve());
    });
    call.cancel();
    client.close();
    expect(seen).to.deep.equal(['SERVING', 'NOT_SERVING']);
    expect((await draining.stop()).code).to.equal(0);
  });
});
