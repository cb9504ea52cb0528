/**
 * The compose files as Compose resolves them. With Debian's `docker-compose` on PATH, its
 * own `config` output (anchors, merges, override files, ${VAR} interpolation done by the
 * real tool); without it, the same resolution done here (YAML merge keys, `${VAR}`,
 * `${VAR:-default}`, `${VAR:?message}`, `$$`), so the agreement checks run either way.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';

export const REPO = resolve(import.meta.dirname, '../..');

export const COMPOSE_MISSING =
  'docker-compose is not on PATH (Debian package "docker-compose"; .ci/run installs it)';

export function dockerComposePath(): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'docker-compose'))
    .find((path) => existsSync(path));
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  ports?: Array<string | { target: number; published: number | string; host_ip?: string }>;
  volumes?: Array<string | { type: string; source: string; target: string; read_only?: boolean }>;
  user?: string;
  cap_add?: string[];
  pid?: string;
  profiles?: string[];
  group_add?: Array<string | number>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  deploy?: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
}

/** `docker-compose <files> config` with `env`, run by the real tool. */
export async function composeConfig(
  binary: string,
  files: readonly string[],
  env: Record<string, string>,
  extra: readonly string[] = [],
): Promise<{ stdout: string; stderr: string }> {
  const args = [...files.flatMap((f) => ['-f', f]), ...extra];
  return promisify(execFile)(binary, args, {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
}

/** The files merged and interpolated, by docker-compose when it is here, else by this module. */
export async function loadCompose(
  files: readonly string[],
  env: Record<string, string>,
): Promise<ComposeFile> {
  const binary = dockerComposePath();
  if (binary !== undefined) {
    const { stdout } = await composeConfig(binary, files, env, [
      '--profile',
      'monitoring',
      'config',
    ]);
    return normalise(parse(stdout) as ComposeFile);
  }
  let merged: ComposeFile = { services: {} };
  for (const file of files) {
    const text = interpolate(readFileSync(resolve(REPO, file), 'utf8'), env);
    const value = parse(text, { merge: true }) as ComposeFile;
    for (const [name, service] of Object.entries(value.services)) {
      merged.services[name] = { ...merged.services[name], ...service };
    }
  }
  merged = normalise(merged);
  return merged;
}

/** Environment as a map, ports and volumes as strings where the short form was used. */
function normalise(file: ComposeFile): ComposeFile {
  for (const service of Object.values(file.services)) {
    if (Array.isArray(service.environment)) {
      service.environment = Object.fromEntries(
        (service.environment as string[]).map((e) => {
          const at = e.indexOf('=');
          return at === -1 ? [e, null] : [e.slice(0, at), e.slice(at + 1)];
        }),
      );
    }
  }
  return file;
}

function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (match, name: string | undefined, op: string | undefined, word: string | undefined) => {
      if (match === '$$') return '$';
      const value = env[name!];
      const unset = op?.startsWith(':') ? value === undefined || value === '' : value === undefined;
      if (op?.endsWith('?') && unset) throw new Error(`${name}: ${word}`);
      if (op?.endsWith('-') && unset) return word ?? '';
      return value ?? '';
    },
  );
}

/** A published port: [host address, host port, container port]. */
export function publishedPorts(service: ComposeService): Array<[string, number, number]> {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'string') {
      const parts = p.replace(/\/(tcp|udp)$/, '').split(':');
      const target = Number(parts.pop());
      const published = Number(parts.pop());
      return [parts.pop() ?? '0.0.0.0', published, target];
    }
    return [p.host_ip ?? '0.0.0.0', Number(p.published), p.target];
  });
}

/** A bind mount: [source as given or resolved, target, read-only]. */
export function mounts(service: ComposeService): Array<[string, string, boolean]> {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      return [resolve(REPO, source!), target!, mode === 'ro'];
    }
    return [v.type === 'bind' ? resolve(REPO, v.source) : v.source, v.target, v.read_only === true];
  });
}
