/**
 * A small Kustomize renderer for the subset deploy/k8s uses, so the manifests render on a
 * machine without a kustomize binary (Debian's kubectl is 1.20, whose kustomize v2 wants
 * the fields v5 deprecates). The subset: `resources` (files and directories), `namespace`,
 * `images`, `configMapGenerator` (files, with kustomize's content-hash name suffix and the
 * ConfigMap volumes that name it updated), and `patches` (strategic-merge or JSON 6902,
 * a target by kind, name and label selector). Anything else in a kustomization is an
 * error, not silently ignored. Where a real kustomize (kubectl 1.21 or newer) is on the
 * machine, test/deploy/k8s.test.ts renders with both and requires the same objects.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'namespace',
  'images',
  'configMapGenerator',
  'patches',
]);

/** Kinds that are not namespaced among those deploy/k8s could hold. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PriorityClass',
  'StorageClass',
  'PersistentVolume',
  'CustomResourceDefinition',
  'RuntimeClass',
  'Node',
]);

/** Strategic-merge keys of the lists a patch may merge into (from the Kubernetes API types). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
};

export function renderKustomization(dir: string): K8sObject[] {
  const root = resolve(dir);
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
    .map((name) => join(root, name))
    .find((path) => existsSync(path));
  if (file === undefined) throw new Error(`${root}: no kustomization.yaml`);
  const k = readYaml(file)[0] as Record<string, unknown>;
  for (const key of Object.keys(k)) {
    if (!KNOWN_FIELDS.has(key))
      throw new Error(`${file}: ${key} is not supported by this renderer`);
  }
  let objects: K8sObject[] = [];
  // Generated ConfigMaps: original name -> hashed name.
  const renames = new Map<string, string>();
  for (const entry of (k.resources as string[] | undefined) ?? []) {
    const path = resolve(root, entry);
    if (statSync(path).isDirectory()) objects.push(...renderKustomization(path));
    else objects.push(...(readYaml(path) as K8sObject[]));
  }
  for (const generator of (k.configMapGenerator as Array<Record<string, unknown>> | undefined) ??
    []) {
    const { name, files, options, ...rest } = generator as {
      name: string;
      files: string[];
      options?: { disableNameSuffixHash?: boolean };
    };
    const unknown = [
      ...Object.keys(rest),
      ...Object.keys(options ?? {}).filter((o) => o !== 'disableNameSuffixHash'),
    ];
    if (unknown.length > 0)
      throw new Error(`${file}: configMapGenerator: ${unknown.join(', ')} not supported`);
    const data: Record<string, string> = {};
    for (const f of files) data[basename(f)] = readFileSync(resolve(root, f), 'utf8');
    const hashed =
      options?.disableNameSuffixHash === true ? name : `${name}-${configMapHash(data)}`;
    renames.set(name, hashed);
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: hashed }, data });
  }
  for (const patch of (k.patches as Array<Record<string, unknown>> | undefined) ?? []) {
    objects = applyPatch(objects, root, patch);
  }
  if (typeof k.namespace === 'string') {
    for (const o of objects) {
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    }
  }
  for (const image of (k.images as Array<Record<string, string>> | undefined) ?? []) {
    for (const o of objects) {
      for (const c of containersOf(o)) {
        const { name, tag } = splitImage(String(c.image));
        if (name !== image.name) continue;
        c.image = `${image.newName ?? name}${image.newTag !== undefined ? `:${image.newTag}` : tag === null ? '' : `:${tag}`}`;
      }
    }
  }
  if (renames.size > 0) {
    for (const o of objects) {
      const spec = podSpecOf(o);
      for (const v of (spec?.volumes as Array<Record<string, Record<string, string>>>) ?? []) {
        const cm = v.configMap;
        if (cm !== undefined && renames.has(cm.name!)) cm.name = renames.get(cm.name!)!;
      }
    }
  }
  return objects;
}

function readYaml(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]!.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/**
 * kustomize's name suffix: the sha256 of Go's json.Marshal of {data, kind, name}, its
 * first 10 hex digits re-lettered. kustomize v5 hashes the generated object before it has
 * its name (an empty one), which is what the cross-check against kubectl 1.32 showed.
 */
export function configMapHash(data: Record<string, string>): string {
  const sorted = Object.fromEntries(
    Object.keys(data)
      .sort()
      .map((key) => [key, data[key]]),
  );
  const json = JSON.stringify({ data: sorted, kind: 'ConfigMap', name: '' })
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  const hex = createHash('sha256').update(json).digest('hex');
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((ch) => swap[ch] ?? ch).join('');
}

function splitImage(image: string): { name: string; tag: string | null } {
  const at = image.lastIndexOf(':');
  if (at > image.lastIndexOf('/')) return { name: image.slice(0, at), tag: image.slice(at + 1) };
  return { name: image, tag: null };
}

function podSpecOf(o: K8sObject): Record<string, unknown> | undefined {
  const spec = o.spec as Record<string, unknown> | undefined;
  if (o.kind === 'Pod') return spec;
  const template = spec?.template as Record<string, unknown> | undefined;
  return template?.spec as Record<string, unknown> | undefined;
}

function containersOf(o: K8sObject): Array<Record<string, unknown>> {
  const spec = podSpecOf(o);
  return [
    ...((spec?.containers as Array<Record<string, unknown>>) ?? []),
    ...((spec?.initContainers as Array<Record<string, unknown>>) ?? []),
  ];
}

function matches(o: K8sObject, target: Record<string, string>): boolean {
  if (target.kind !== undefined && o.kind !== target.kind) return false;
  if (target.name !== undefined && o.metadata.name !== target.name) return false;
  if (target.labelSelector !== undefined) {
    for (const term of target.labelSelector.split(',')) {
      const [key, value] = term.split('=').map((s) => s.trim());
      if (o.metadata.labels?.[key!] !== value) return false;
    }
  }
  return true;
}

function applyPatch(
  objects: K8sObject[],
  root: string,
  entry: Record<string, unknown>,
): K8sObject[] {
  const { path, target, ...rest } = entry as { path: string; target?: Record<string, string> };
  if (Object.keys(rest).length > 0)
    throw new Error(`patches: ${Object.keys(rest).join(', ')} not supported`);
  const [patch] = readYaml(resolve(root, path));
  const isJson6902 = Array.isArray(patch);
  let selector = target;
  if (selector === undefined) {
    if (isJson6902) throw new Error(`${path}: a JSON 6902 patch needs a target`);
    const p = patch as K8sObject;
    selector = { kind: p.kind, name: p.metadata.name };
  }
  let hits = 0;
  const out = objects.map((o) => {
    if (!matches(o, selector)) return o;
    hits++;
    if (isJson6902) return jsonPatch(o, patch as Array<Record<string, unknown>>, path);
    const { metadata, apiVersion: _a, kind: _k, ...body } = patch as K8sObject;
    const { name: _n, namespace: _ns, ...meta } = metadata;
    return merge(o as unknown as Json, { ...body, metadata: meta } as Json) as unknown as K8sObject;
  });
  if (hits === 0) throw new Error(`${path}: its target matches no object`);
  return out;
}

/** Strategic merge: maps merge, lists with a merge key merge by it, other lists and values replace. */
function merge(original: Json, patch: Json, key?: string): Json {
  if (Array.isArray(patch)) {
    const mergeKey = key === undefined ? undefined : MERGE_KEYS[key];
    if (mergeKey === undefined || !Array.isArray(original)) return structuredClone(patch);
    // Items only the patch has come first (as kustomize v5 orders them), then the original's.
    const added: Json[] = [];
    const out = original.map((item) => structuredClone(item));
    for (const item of patch) {
      const id = (item as Record<string, Json>)[mergeKey];
      const at = out.findIndex((o) => (o as Record<string, Json>)[mergeKey] === id);
      if (at === -1) added.push(structuredClone(item));
      else out[at] = merge(out[at]!, item);
    }
    return [...added, ...out];
  }
  if (patch !== null && typeof patch === 'object') {
    const base =
      original !== null && typeof original === 'object' && !Array.isArray(original)
        ? { ...original }
        : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete base[k];
      else base[k] = merge(base[k] ?? null, v, k);
    }
    return base;
  }
  return patch;
}

/** RFC 6902 add, replace and remove, with RFC 6901 paths (`-` appends). */
function jsonPatch(o: K8sObject, ops: Array<Record<string, unknown>>, file: string): K8sObject {
  const doc = structuredClone(o) as unknown as Record<string, unknown>;
  for (const op of ops) {
    const parts = String(op.path)
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let parent: unknown = doc;
    for (const part of parts) {
      parent = (parent as Record<string, unknown>)[part];
      if (parent === undefined) throw new Error(`${file}: ${op.path}: no such path`);
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, op.value);
      else if (op.op === 'replace') parent[index] = op.value;
      else if (op.op === 'remove') parent.splice(index, 1);
      else throw new Error(`${file}: op ${String(op.op)} not supported`);
    } else {
      const map = parent as Record<string, unknown>;
      if (op.op === 'add' || op.op === 'replace') map[last] = op.value;
      else if (op.op === 'remove') delete map[last];
      else throw new Error(`${file}: op ${String(op.op)} not supported`);
    }
  }
  return doc as unknown as K8sObject;
}
