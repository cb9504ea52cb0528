/**
 * nginx as the reference proxy: a keep-alive reverse proxy in front of one node, run as a
 * child process with its own prefix, configuration, pid file, temp folders and error log
 * in a temp folder (nothing of the system's nginx is read or written), stopped and
 * removed at the end.
 *
 * One process (`master_process off`, `daemon off`): one event loop serving every
 * connection, as the router's one Node process does, so neither proxy gets more cores
 * than the other; its loop is the same ngx_process_events_and_timers a worker runs, only
 * without a master above it. That also leaves one pid to count CPU for and to stop, no
 * switch to the `nobody` user when the benchmark runs as root (a master started as root
 * makes its workers `nobody`, outside the private temp folder), and no master left behind
 * if the benchmark dies. Access log off, errors to the temp folder.
 *
 * The upstream keeps up to 32 idle connections to the node (the router's
 * connectionsPerNode), HTTP/1.1 with the Connection header cleared, as nginx's
 * documentation asks for upstream keep-alive
 * (https://nginx.org/en/docs/http/ngx_http_upstream_module.html#keepalive). Neither side
 * closes a busy connection: keepalive_requests is raised from 1000 on both, and the
 * upstream's idle timeout (60 s) is below the node's (72 s), so nginx never reuses a
 * connection the node is closing.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Idle keep-alive connections nginx keeps to the node: the router's connectionsPerNode default. */
export const UPSTREAM_KEEPALIVE = 32;

/** Where nginx is looked for after PATH (Debian puts it in /usr/sbin, often not on a user's PATH). */
const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];

/** The nginx binary: `explicit` if given, else the first on PATH or in the sbin folders; null if none. */
export function findNginx(explicit?: string, path = process.env.PATH ?? ''): string | null {
  if (explicit !== undefined) return existsSync(explicit) ? explicit : null;
  for (const dir of [...path.split(delimiter).filter(Boolean), ...SBIN_DIRS]) {
    const candidate = join(dir, 'nginx');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** "nginx/1.22.1" from `nginx -v` (which prints on stderr), or null. */
export function nginxVersion(binary: string): string | null {
  const probe = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  if (probe.error !== undefined) return null;
  const match = /nginx version: (\S+)/.exec(`${probe.stdout}${probe.stderr}`);
  return match === null ? null : match[1]!;
}

export interface NginxConfigOptions {
  /** The temp folder: pid file, error log, temp paths. */
  prefix: string;
  /** Where nginx listens (127.0.0.1). */
  listenPort: number;
  /** The node: host:port. */
  upstream: string;
  keepalive?: number;
  /** Largest request body: the node's default limit. */
  bodyLimitBytes?: number;
}

const quote = (value: string): string => JSON.stringify(value);

/** The whole nginx.conf for the proxy. */
export function renderNginxConfig(options: NginxConfigOptions): string {
  const at = (name: string) => quote(join(options.prefix, name));
  const keepalive = options.keepalive ?? UPSTREAM_KEEPALIVE;
  const bodyLimit = options.bodyLimitBytes ?? 64 * 1024 * 1024;
  return `# edgeshift bench:router-hop: nginx as a keep-alive reverse proxy in front of one node.
daemon off;
master_process off;
worker_processes 1;
pid ${at('nginx.pid')};
error_log ${at('error.log')} warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path ${at('client_body')};
    proxy_temp_path ${at('proxy')};
    fastcgi_temp_path ${at('fastcgi')};
    uwsgi_temp_path ${at('uwsgi')};
    scgi_temp_path ${at('scgi')};
    client_max_body_size ${bodyLimit};
    # Request bodies stay in memory, never in a temp file.
    client_body_buffer_size 1m;
    keepalive_timeout 75s;
    keepalive_requests 1000000;

    upstream node {
        server ${options.upstream};
        keepalive ${keepalive};
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }

    server {
        listen 127.0.0.1:${options.listenPort};
        location / {
            proxy_pass http://node;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`;
}

/** A TCP port free on 127.0.0.1 a moment ago (nginx needs a number; the kernel picks one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Every nginx this process started, stopped if it exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHook = false;

function killOnExit(child: ChildProcess): void {
  running.add(child);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

export class NginxProxy {
  private exited: Promise<void>;
  private exitedAlready = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly prefix: string,
    readonly config: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.exitedAlready = true;
        running.delete(child);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Starts `binary` in front of `upstream` (host:port) and waits until it accepts connections. */
  static async start(binary: string, upstream: string, timeoutMs = 10_000): Promise<NginxProxy> {
    const prefix = await mkdtemp(join(tmpdir(), 'edgeshift-nginx-'));
    try {
      const listenPort = await freePort();
      const config = renderNginxConfig({ prefix, listenPort, upstream });
      const confFile = join(prefix, 'nginx.conf');
      await writeFile(confFile, config);
      // -e: the error log before the configuration is read; -p: relative paths start here.
      const child = spawn(binary, ['-p', prefix, '-c', confFile, '-e', join(prefix, 'error.log')], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      killOnExit(child);
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (text: string) => {
        stderr = (stderr + text).slice(-4096);
      });
      const proxy = new NginxProxy(child, `http://127.0.0.1:${listenPort}`, prefix, config);
      const deadline = performance.now() + timeoutMs;
      while (!(await canConnect(listenPort))) {
        if (proxy.exitedAlready || performance.now() > deadline) {
          const log = await proxy.errorLog();
          await proxy.stop();
          throw new Error(
            `nginx did not start (${proxy.exitedAlready ? 'it exited' : `no listener within ${timeoutMs} ms`}): ${`${stderr}\n${log}`.trim().slice(-2000)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return proxy;
    } catch (error) {
      await rm(prefix, { recursive: true, force: true });
      throw error;
    }
  }

  /** The error log's text (warnings and errors), empty when there is none. */
  async errorLog(): Promise<string> {
    try {
      return await readFile(join(this.prefix, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGQUIT (graceful), SIGKILL after `graceMs`; then removes the temp folder. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.exitedAlready) {
      this.child.kill('SIGQUIT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.prefix, { recursive: true, force: true });
  }
}
