/**
 * deploy/k8s: the base and every overlay render (test/deploy/kustomize.ts, and the same
 * objects from a real kustomize where one is here), every object is valid against the
 * Kubernetes API schemas (npm kubernetes-models: the OpenAPI schemas compiled, offline)
 * with no field the API does not have (TypeScript's excess-property check against the
 * same package's types), and the manifests agree with the CLI: each container's flags
 * through the CLI's own parser, ports, probes on the OIP health endpoints, the drain and
 * shutdown deadlines, the topology's URLs and the Services.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { isDeepStrictEqual, promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { NODE_DEFAULTS } from '../../cli/options.ts';
import { loadConfigFile } from '../../services/node/config.ts';
import { resolveRouterConfig } from '../../services/router/config.ts';
import { loadTopology } from '../../services/router/topology/index.ts';
import { parseEdgeshift } from './cli-parse.ts';
import { REPO } from './compose.ts';
import { type K8sObject, renderKustomization } from './kustomize.ts';

const DIRS = ['base', 'overlays/fleet', 'overlays/gpu', 'overlays/metered'];
const rendered = new Map(DIRS.map((d) => [d, renderKustomization(resolve(REPO, 'deploy/k8s', d))]));
const TIERS = ['hyperscale', 'edge', 'device'];

type Container = {
  name: string;
  image: string;
  args: string[];
  ports: Array<{ name: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string | number> };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  securityContext?: Record<string, unknown>;
};
type PodSpec = {
  containers: Container[];
  nodeSelector?: Record<string, string>;
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  volumes?: Array<{ name: string; configMap?: { name: string }; hostPath?: { path: string } }>;
};

function deployments(objects: K8sObject[]) {
  return objects
    .filter((o) => o.kind === 'Deployment')
    .map((o) => {
      const spec = o.spec as {
        template: {
          metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
          spec: PodSpec;
        };
        selector: { matchLabels: Record<string, string> };
      };
      return {
        object: o,
        pod: spec.template.spec,
        template: spec.template,
        selector: spec.selector,
      };
    });
}

function cpus(quantity: string | number | undefined): number {
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

/** A real kustomize (kubectl 1.21 or newer embeds kustomize v4+); null with the reason when none is here. */
function realKustomize(): { run: (dir: string) => string } | string {
  try {
    const version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    const major = Number(/Kustomize Version: v(\d+)/.exec(version)?.[1] ?? 0);
    if (major < 4) return `kubectl's kustomize is older than v4 (${version.trim().split('\n')[0]})`;
    return { run: (dir) => execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }) };
  } catch {
    return 'kubectl is not on PATH: the renderer is not cross-checked against a real kustomize';
  }
}

/**
 * Each object as a literal typed as its API kind, type-checked: tsc refuses any property
 * the kind's type lacks, at any depth. Returns what tsc printed (empty: no complaint).
 */
async function strictCheck(objects: readonly K8sObject[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-k8s-strict-'));
  try {
    const imports = new Map<string, string>();
    const lines: string[] = [];
    objects.forEach((object, n) => {
      const type = `I${object.kind}`;
      const alias = `${type}_${object.apiVersion.replace(/[^A-Za-z0-9]/g, '_')}`;
      imports.set(
        alias,
        `import type { ${type} as ${alias} } from 'kubernetes-models/${object.apiVersion}/${object.kind}';`,
      );
      lines.push(`export const o${n}: ${alias} = ${JSON.stringify(object)};`);
    });
    const modules = dirname(dirname(resolve(REPO, 'node_modules/kubernetes-models/package.json')));
    await writeFile(
      join(dir, 'objects.ts'),
      `${[...imports.values()].join('\n')}\n${lines.join('\n')}\n`,
    );
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          module: 'esnext',
          moduleResolution: 'bundler',
          types: [],
          paths: {
            'kubernetes-models/*': [join(modules, 'kubernetes-models/*')],
            '@kubernetes-models/*': [join(modules, '@kubernetes-models/*')],
          },
        },
        files: ['objects.ts'],
      }),
    );
    const tsc = resolve(REPO, 'node_modules/typescript/bin/tsc');
    const { stdout } = await promisify(execFile)(process.execPath, [tsc, '-p', dir]).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }),
    );
    return stdout.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('deploy/k8s renders', () => {
  const real = realKustomize();
  for (const dir of DIRS) {
    it(`${dir}: the same objects as kubectl kustomize`, {
      skip: typeof real === 'string' ? real : false,
    }, () => {
      if (typeof real === 'string') return;
      const theirs = parseAllDocuments(real.run(resolve(REPO, 'deploy/k8s', dir))).map(
        (d) => d.toJS() as K8sObject,
      );
      const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
      const ours = rendered.get(dir)!;
      assert.deepEqual(ours.map(key).sort(), theirs.map(key).sort());
      for (const object of ours) {
        const other = theirs.find((o) => key(o) === key(object));
        assert.ok(isDeepStrictEqual(JSON.parse(JSON.stringify(object)), other), key(object));
      }
    });
  }
});

describe('deploy/k8s objects against the Kubernetes API schemas', () => {
  for (const dir of DIRS) {
    it(`${dir}: every object validates`, async () => {
      for (const object of rendered.get(dir)!) {
        const [group, version] = object.apiVersion.includes('/')
          ? object.apiVersion.split('/')
          : [null, object.apiVersion];
        const module = `kubernetes-models/${group === null ? version : `${group}/${version}`}/${object.kind}`;
        const models = (await import(module)) as Record<
          string,
          new (
            data: unknown,
          ) => { validate(): void }
        >;
        const Model = models[object.kind];
        assert.ok(Model, `${object.apiVersion} ${object.kind} is a Kubernetes API kind`);
        assert.doesNotThrow(
          () => new Model(object).validate(),
          `${dir}: ${object.kind} ${object.metadata.name}`,
        );
      }
    });
  }

  it('no object has a field the API does not know (excess-property check against the API types)', async () => {
    assert.equal(await strictCheck([...rendered.values()].flat()), '');
  });

  it('the checks catch a misspelt field and a wrong type', async () => {
    const [deployment] = deployments(rendered.get('base')!);
    const wrong = structuredClone(deployment!.object);
    const container = (wrong.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!;
    (container as unknown as Record<string, unknown>).readinessProbes = container.readinessProbe;
    const output = await strictCheck([wrong]);
    assert.match(output, /readinessProbes/);
    (wrong.spec as Record<string, unknown>).replicas = 'three';
    const { Deployment } = (await import('kubernetes-models/apps/v1/Deployment')) as {
      Deployment: new (data: unknown) => { validate(): void };
    };
    assert.throws(() => new Deployment(wrong).validate(), /replicas/);
  });
});

describe('deploy/k8s agrees with the CLI', () => {
  for (const dir of DIRS) {
    it(`${dir}: each tier's node parses, listens on its container port, probes the OIP health endpoints`, async () => {
      const objects = rendered.get(dir)!;
      const nodes = deployments(objects).filter(
        (d) => d.template.metadata.labels['app.kubernetes.io/component'] === 'node',
      );
      assert.deepEqual(nodes.map((d) => d.object.metadata.name).sort(), [...TIERS].sort());
      for (const { object, pod, template, selector } of nodes) {
        const tier = object.metadata.name;
        assert.equal(pod.containers.length, 1);
        const c = pod.containers[0]!;
        const { command, options } = await parseEdgeshift(c.args);
        assert.equal(command, 'node');
        assert.equal(options.tier, tier);
        assert.equal(options.host, '0.0.0.0');
        const http = c.ports.find((p) => p.name === 'http')!;
        assert.equal(options.port, http.containerPort);
        assert.equal(
          template.metadata.annotations?.['prometheus.io/port'],
          String(http.containerPort),
        );
        assert.equal(template.metadata.annotations?.['prometheus.io/scrape'], 'true');
        assert.equal(c.readinessProbe?.httpGet?.path, '/v2/health/ready');
        assert.equal(c.livenessProbe?.httpGet?.path, '/v2/health/live');
        assert.equal(c.startupProbe?.httpGet?.path, '/v2/health/live');
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe])
          assert.equal(probe?.httpGet?.port, 'http');
        // Placed by node labels.
        assert.equal(pod.nodeSelector?.['edgeshift.dev/tier'], tier);
        // The token from the Secret, as EDGESHIFT_TOKEN (the CLI's default for --token).
        assert.ok(c.env?.some((e) => e.name === 'EDGESHIFT_TOKEN' && e.valueFrom !== undefined));
        // Requests and limits; the intra-op threads leave a core of the limit to the event loop.
        assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${tier} requests`);
        assert.ok(c.resources?.limits?.cpu && c.resources.limits.memory, `${tier} limits`);
        assert.ok(
          Number(options.threads) + 1 <= cpus(c.resources.limits.cpu) || options.threads === 1,
          `${tier}: --threads ${String(options.threads)} within limit ${c.resources.limits.cpu}`,
        );
        // The drain: readiness 503 while the Service forgets the pod, inside the shutdown deadline,
        // which with the CLI's 3 s of slack fits the grace period.
        const drain = Number(options.drainDelayMs);
        const shutdown = Number(options.shutdownTimeoutMs ?? NODE_DEFAULTS.shutdownTimeoutMs);
        assert.ok(
          drain >= 5_000 && drain < shutdown,
          `${tier}: drain ${drain} ms, shutdown ${shutdown} ms`,
        );
        assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 >= shutdown + 3_000, tier);
        // The Service selects these pods on the same port.
        const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === tier)!;
        const spec = service.spec as {
          selector: Record<string, string>;
          ports: Array<{ port: number; targetPort: string }>;
        };
        assert.deepEqual(spec.selector, selector.matchLabels);
        assert.equal(spec.ports[0]!.port, http.containerPort);
        assert.equal(spec.ports[0]!.targetPort, 'http');
        assert.equal(pod.securityContext?.runAsNonRoot, true);
      }
    });

    it(`${dir}: the router parses, its topology is the ConfigMap's and names the Services`, async () => {
      const objects = rendered.get(dir)!;
      const [router] = deployments(objects).filter((d) => d.object.metadata.name === 'router');
      assert.ok(router);
      const c = router.pod.containers[0]!;
      const { command, options } = await parseEdgeshift(c.args);
      assert.equal(command, 'router');
      assert.equal(options.port, c.ports[0]!.containerPort);
      assert.equal(options.port, resolveRouterConfig({}).port);
      const topologyPath = String(options.topology);
      const mount = c.volumeMounts?.find((m) => topologyPath.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${topologyPath} is in a mounted volume`);
      const volume = router.pod.volumes?.find((v) => v.name === mount.name);
      const configMap = objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name,
      );
      assert.ok(
        configMap,
        `the router's volume is a ConfigMap of the render (${volume?.configMap?.name})`,
      );
      const text = (configMap.data as Record<string, string>)[
        topologyPath.slice(mount.mountPath.length + 1)
      ];
      assert.ok(text, 'the ConfigMap holds the topology file');
      // Inside the image the file sits at the same path under /app as in the repository,
      // so its relative carbon series resolves to the image's copy.
      assert.equal(topologyPath, '/app/deploy/k8s/base/topology.yaml');
      const topology = await loadTopology(resolve(REPO, 'deploy/k8s/base/topology.yaml'), {
        EDGESHIFT_TOKEN: 'k8s-test',
      });
      for (const node of topology.nodes) {
        const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === node.name);
        assert.ok(service, `a Service for ${node.name}`);
        const port = (service.spec as { ports: Array<{ port: number }> }).ports[0]!.port;
        assert.equal(node.url, `http://${node.name}:${port}`);
        assert.equal(node.token, 'k8s-test');
      }
      for (const [key, value] of Object.entries(configMap.data as Record<string, string>)) {
        assert.equal(key, 'topology.yaml');
        assert.equal(value, readFileSync(resolve(REPO, 'deploy/k8s/base/topology.yaml'), 'utf8'));
      }
    });
  }

  it('gpu: the hyperscale node runs the WebGPU provider on a GPU node, one GPU its limit', async () => {
    const [hyperscale] = deployments(rendered.get('overlays/gpu')!).filter(
      (d) => d.object.metadata.name === 'hyperscale',
    );
    const c = hyperscale!.pod.containers[0]!;
    assert.equal((await parseEdgeshift(c.args)).options.ep, 'webgpu');
    assert.equal(c.resources?.limits?.['nvidia.com/gpu'], 1);
    assert.equal(hyperscale!.pod.nodeSelector?.['nvidia.com/gpu.present'], 'true');
  });

  it('metered: each node reads RAPL from a read-only hostPath through a config file the node accepts', async () => {
    const objects = rendered.get('overlays/metered')!;
    const namespace = objects.find((o) => o.kind === 'Namespace')!;
    assert.equal(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    for (const { object, pod } of deployments(objects).filter((d) =>
      TIERS.includes(d.object.metadata.name),
    )) {
      const c = pod.containers[0]!;
      const { options } = await parseEdgeshift(c.args);
      const configPath = String(options.config);
      const mount = c.volumeMounts!.find((m) => configPath.startsWith(`${m.mountPath}/`))!;
      const volume = pod.volumes!.find((v) => v.name === mount.name)!;
      const configMap = objects.find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap?.name,
      );
      assert.ok(configMap, `${object.metadata.name}: its config file's ConfigMap is in the render`);
      const text = (configMap.data as Record<string, string>)[
        configPath.slice(mount.mountPath.length + 1)
      ]!;
      const dir = await mkdtemp(join(tmpdir(), 'edgeshift-node-config-'));
      try {
        await writeFile(join(dir, 'energy.json'), text);
        const config = await loadConfigFile(join(dir, 'energy.json'));
        const root = (config.energy as { powercapRoot?: string }).powercapRoot!;
        const rapl = c.volumeMounts!.find((m) => m.mountPath === root);
        assert.ok(rapl?.readOnly, `${object.metadata.name}: ${root} mounted read-only`);
        assert.equal(
          pod.volumes!.find((v) => v.name === rapl.name)?.hostPath?.path,
          '/sys/devices/virtual/powercap',
        );
        assert.ok(Array.isArray(pod.securityContext?.supplementalGroups));
        assert.equal(
          c.securityContext?.allowPrivilegeEscalation,
          false,
          'still no privilege escalation',
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });
});
