/**
 * The Kubernetes manifests of deploy/kubernetes, loaded for tests: every object of every file,
 * validated against the Kubernetes OpenAPI schemas (kubernetes-models), and a way to run a
 * container's command here, with each volume it mounts stood in for by a temporary directory or
 * file, so a test checks that the command and the config inside actually work.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { tempDir } from './setup';

export const MANIFEST_DIR = path.join(__dirname, '..', '..', '..', 'deploy', 'kubernetes');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

/** Every object of every YAML file in `dir` but the kustomization (kustomize's, not the API server's), with its file. */
export function loadManifests(dir = MANIFEST_DIR): Array<{ file: string; object: KubeObject }> {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .flatMap((file) =>
      parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8')).map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
        return { file, object: doc.toJS() as KubeObject };
      }),
    );
}

/** Throws what the Kubernetes schema of the object's apiVersion and kind says is wrong with it. */
export function validateObject(object: KubeObject): void {
  // kubernetes-models has one module per API version (core: v1), exporting a class per kind; which
  // module is known only from the object, hence a require() rather than an import.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const model = require(`kubernetes-models/${object.apiVersion}`) as { [kind: string]: new (o: unknown) => { validate(): void } };
  const Model = model[object.kind];
  if (Model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

/** The object of `kind` named `name`. */
export function find<T = KubeObject>(objects: KubeObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in ${MANIFEST_DIR}`);
  return found as unknown as T;
}

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
  startupProbe?: { exec?: { command: string[] } };
  readinessProbe?: { exec?: { command: string[] } };
  livenessProbe?: { exec?: { command: string[] } };
}

export interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string } }>;
}

export interface StatefulSet extends KubeObject {
  spec: {
    serviceName: string;
    replicas: number;
    template: { spec: PodSpec };
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
  };
}

/**
 * Container paths mapped to paths here: a ConfigMap key mounted by subPath becomes a file with its
 * text (container paths in it mapped too), a secret becomes a directory holding `secrets[secretName]`
 * (key → source file), a volume claim an empty directory.
 */
export class MountedPod {
  private readonly mounts: Array<{ from: string; to: string }> = [];

  constructor(
    objects: KubeObject[],
    readonly pod: PodSpec,
    container: Container,
    secrets: Record<string, Record<string, string>>,
    claims: string[],
  ) {
    const root = tempDir('kube-pod');
    for (const m of container.volumeMounts ?? []) {
      const volume = pod.volumes?.find((v) => v.name === m.name);
      const to = path.join(root, m.name, m.subPath ?? '');
      if (volume?.configMap !== undefined) {
        const data = find<{ data: Record<string, string> }>(objects, 'ConfigMap', volume.configMap.name).data;
        if (m.subPath === undefined || data[m.subPath] === undefined)
          throw new Error(`mount ${m.name}: ConfigMap ${volume.configMap.name} has no key ${m.subPath}`);
        this.mounts.push({ from: m.mountPath, to });
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.writeFileSync(to, data[m.subPath]);
      } else if (volume?.secret !== undefined) {
        const files = secrets[volume.secret.secretName];
        if (files === undefined) throw new Error(`mount ${m.name}: no test stand-in for secret ${volume.secret.secretName}`);
        fs.mkdirSync(to, { recursive: true });
        for (const [key, source] of Object.entries(files)) fs.copyFileSync(source, path.join(to, key));
        this.mounts.push({ from: m.mountPath, to });
      } else if (volume === undefined && claims.includes(m.name)) {
        fs.mkdirSync(to, { recursive: true });
        this.mounts.push({ from: m.mountPath, to });
      } else {
        throw new Error(`mount ${m.name}: no volume or volume claim template of that name`);
      }
    }
    // Longest first, so /etc/rpmem/tls maps before a shorter prefix could.
    this.mounts.sort((a, b) => b.from.length - a.from.length);
    for (const m of this.mounts) if (fs.statSync(m.to).isFile()) fs.writeFileSync(m.to, this.map(fs.readFileSync(m.to, 'utf8')));
  }

  /** `text` with every mounted container path replaced by its stand-in here. */
  map(text: string): string {
    return this.mounts.reduce((t, m) => t.split(m.from).join(m.to), text);
  }

  /** `argv` with `$(VAR)` references expanded from `env` and container paths mapped. */
  argv(argv: string[], env: Record<string, string>): string[] {
    return argv.map((a) => this.map(a.replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => env[name] ?? `$(${name})`)));
  }
}
