/**
 * deploy/kubernetes: every object valid against the Kubernetes schemas, the pieces wired to each
 * other (ports, names, volumes, the replica and etcd addresses), and the containers' own commands
 * run here with their mounted configs: rpmemd and the failover agent accept them (--check-config),
 * and the probe command reports a real rpmemd started from that config as healthy.
 */
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseYaml } from 'yaml';
import { DaemonProcess } from '../src/target/daemon-process';
import { testCerts } from './helpers/certs';
import {
  Container,
  KubeObject,
  MANIFEST_DIR,
  MountedPod,
  StatefulSet,
  find,
  loadManifests,
  validateObject,
} from './helpers/kube-manifests';

const ROOT = path.join(__dirname, '..', '..');
const NAMESPACE = 'rpmem';

interface Service extends KubeObject {
  spec: { clusterIP?: string; selector: Record<string, string>; ports?: Array<{ name: string; port: number; targetPort: string }> };
}

/** Runs `argv` (a container's command + args, mapped) in the repository root, as the image's WORKDIR /app holds the same tree. */
function run(argv: string[]): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd === 'node' ? process.execPath : cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function port(container: Container, name: string): number {
  const p = container.ports?.find((x) => x.name === name);
  if (p === undefined) throw new Error(`container ${container.name} has no port ${name}`);
  return p.containerPort;
}

/** Pod DNS names a StatefulSet's headless Service gives: NAME-i.SERVICE.NAMESPACE.svc. */
function podHosts(set: StatefulSet): string[] {
  return Array.from({ length: set.spec.replicas }, (_, i) => `${set.metadata.name}-${i}.${set.spec.serviceName}.${NAMESPACE}.svc`);
}

describe('Kubernetes manifests (deploy/kubernetes)', function () {
  this.timeout(60_000);
  const loaded = loadManifests();
  const objects = loaded.map((l) => l.object);
  const certs = testCerts();
  const serverTls = { 'tls.crt': certs.serverCert, 'tls.key': certs.serverKey, 'ca.crt': certs.caCert };
  const clientTls = { 'tls.crt': certs.clientCert, 'tls.key': certs.clientKey, 'ca.crt': certs.caCert };

  it('every object is valid against its Kubernetes schema, and the validator refuses a broken one', () => {
    expect(loaded.length).to.be.at.least(10);
    for (const { file, object } of loaded) {
      expect(() => validateObject(object), `${file}: ${object.kind} ${object.metadata.name}`).to.not.throw();
    }
    const broken = structuredClone(find<StatefulSet>(objects, 'StatefulSet', 'rpmemd'));
    (broken.spec as unknown as { replicas: string }).replicas = 'three';
    expect(() => validateObject(broken)).to.throw(/replicas must be integer/);
  });

  it('the kustomization lists every manifest file and puts them in the rpmem namespace', () => {
    const kustomization = parseYaml(fs.readFileSync(path.join(MANIFEST_DIR, 'kustomization.yaml'), 'utf8')) as {
      namespace: string;
      resources: string[];
    };
    const files = fs.readdirSync(MANIFEST_DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).to.deep.equal(files.sort());
    expect(kustomization.namespace).to.equal(NAMESPACE);
    expect(find(objects, 'Namespace', NAMESPACE)).to.not.equal(undefined);
  });

  it("services select their StatefulSet's pods and reach the ports its containers name", () => {
    for (const set of objects.filter((o): o is StatefulSet => o.kind === 'StatefulSet')) {
      const labels = (set.spec.template as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
      const selector = (set.spec as unknown as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      for (const [k, v] of Object.entries(selector)) expect(labels[k], `${set.metadata.name}: pod label ${k}`).to.equal(v);
      const service = find<Service>(objects, 'Service', set.spec.serviceName);
      expect(service.spec.clusterIP, `${service.metadata.name} is headless (per-pod names)`).to.equal('None');
      for (const [k, v] of Object.entries(service.spec.selector)) expect(labels[k]).to.equal(v);
      const container = set.spec.template.spec.containers[0];
      for (const p of service.spec.ports ?? [])
        expect(port(container, p.targetPort), `${service.metadata.name}:${p.name}`).to.equal(p.port);
    }
  });

  it('the failover agent names the rpmemd pods as replicas and every etcd member, on the ports they serve', () => {
    const rpmemd = find<StatefulSet>(objects, 'StatefulSet', 'rpmemd');
    const etcd = find<StatefulSet>(objects, 'StatefulSet', 'etcd');
    const agentConf = parseYaml(
      find<{ data: Record<string, string> }>(objects, 'ConfigMap', 'failover-agent-config').data['failover-agent.conf'],
    ) as { replica: string[]; etcd: string[]; pool: string };
    const grpc = port(rpmemd.spec.template.spec.containers[0], 'grpc');
    expect(agentConf.replica.map((r) => r.split('/')[0])).to.deep.equal(podHosts(rpmemd).map((h) => `${h}:${grpc}`));
    const client = port(etcd.spec.template.spec.containers[0], 'client');
    expect(agentConf.etcd).to.deep.equal(podHosts(etcd).map((h) => `http://${h}:${client}`));
    // A majority of the targets, and of etcd, survives one voluntary disruption.
    for (const name of ['rpmemd', 'etcd']) {
      const pdb = find<{ spec: { maxUnavailable: number } }>(objects, 'PodDisruptionBudget', name);
      expect(pdb.spec.maxUnavailable).to.be.below(Math.ceil(find<StatefulSet>(objects, 'StatefulSet', name).spec.replicas / 2));
    }
    const args = (etcd.spec.template.spec.containers[0].args ?? []).join(' ');
    const members = podHosts(etcd).map(
      (h, i) =>
        `etcd-${i}=http://${h.replace(`.${NAMESPACE}.`, '.$(POD_NAMESPACE).')}:${port(etcd.spec.template.spec.containers[0], 'peer')}`,
    );
    expect(args).to.include(`--initial-cluster=${members.join(',')}`);
  });

  it('rpmemd accepts its mounted config, and the probe command finds a daemon started from it healthy (and a dead one not)', async () => {
    const set = find<StatefulSet>(objects, 'StatefulSet', 'rpmemd');
    const container = set.spec.template.spec.containers[0];
    const pod = new MountedPod(objects, set.spec.template.spec, container, { 'rpmemd-tls': serverTls }, ['pools']);
    const argv = pod.argv([...container.command!, ...(container.args ?? [])], {});
    const checked = run([...argv, '--check-config']);
    expect(checked.status, checked.stderr).to.equal(0);
    const effective = JSON.parse(checked.stdout) as Record<string, unknown>;
    expect(effective['pool-dir']).to.equal(pod.map('/var/lib/rpmem'));
    expect(effective.listen).to.equal(`0.0.0.0:${port(container, 'grpc')}`);
    expect(effective.metrics).to.equal(`0.0.0.0:${port(container, 'metrics')}`);
    const configFile = argv[argv.indexOf('--config') + 1];
    // The same config on a free loopback port (a flag wins over its file key).
    const daemon = await DaemonProcess.start({
      poolDir: String(effective['pool-dir']),
      tls: { cert: pod.map('/etc/rpmem/tls/tls.crt'), key: pod.map('/etc/rpmem/tls/tls.key'), ca: pod.map('/etc/rpmem/tls/ca.crt') },
      args: ['--config', configFile, '--metrics', '127.0.0.1:0'],
    });
    try {
      const probes = [container.startupProbe, container.readinessProbe, container.livenessProbe];
      for (const probe of probes) {
        expect(probe?.exec, 'an exec probe (the built-in gRPC probe cannot speak TLS)').to.not.equal(undefined);
        const probeArgv = probe!.exec!.command.map((a) =>
          a.replace(`127.0.0.1:${port(container, 'grpc')}`, `${daemon.host}:${daemon.port}`),
        );
        const healthy = run(probeArgv);
        expect(healthy.status, healthy.stderr).to.equal(0);
      }
    } finally {
      await daemon.stop();
    }
    const dead = run(
      container.readinessProbe!.exec!.command.map((a) =>
        a.replace(`127.0.0.1:${port(container, 'grpc')}`, `${daemon.host}:${daemon.port}`),
      ),
    );
    expect(dead.status, 'the probe fails once the daemon is gone').to.equal(1);
  });

  it('the failover agent accepts its mounted config and flags, with its pool on the volume it mounts', () => {
    const set = find<StatefulSet>(objects, 'StatefulSet', 'rpmem-candidate');
    const container = set.spec.template.spec.containers[0];
    const pod = new MountedPod(objects, set.spec.template.spec, container, { 'rpmem-client-tls': clientTls }, ['pool']);
    const argv = pod.argv([...container.command!, ...(container.args ?? [])], { POD_NAME: 'rpmem-candidate-0' });
    const checked = run([...argv, '--check-config']);
    expect(checked.status, checked.stderr).to.equal(0);
    const effective = JSON.parse(checked.stdout) as {
      member: string;
      pool: string;
      replicas: string[];
      replicaConnection: Record<string, boolean>;
    };
    expect(effective.member).to.equal('rpmem-candidate-0');
    expect(effective.replicaConnection, 'mutual TLS to the targets, as rpmemd.yaml requires').to.deep.include({
      tls: true,
      clientCertificate: true,
    });
    expect(effective.pool.startsWith(pod.map('/var/lib/rpmem-primary') + path.sep), `pool ${effective.pool} on the pool volume`).to.equal(
      true,
    );
    expect(effective.replicas).to.have.length(find<StatefulSet>(objects, 'StatefulSet', 'rpmemd').spec.replicas);
  });
});
