/**
 * Services as child processes: start a service script (`node --import tsx script args`),
 * wait for its one-line JSON ready message, pass its output through or keep it for the
 * error, stop it with SIGTERM and then SIGKILL, and tell how it ended. A child started
 * here also ends when its parent dies, however the parent dies: it holds the read end of
 * a pipe on its stdin and stops when that pipe closes.
 *
 * The protocol, from the child's side (`serveAsChild` does all of it): one line on
 * stdout, either `{"url": ..., ...}` once listening or `{"error": ..., "code": ...}` when
 * it cannot start; SIGTERM or SIGINT (or the end of stdin, with --exit-with-stdin)
 * closes it gracefully and it exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EdgeshiftError, type ErrorCode, isEdgeshiftError, isErrorCode } from './errors.ts';
import { installSignalHandlers } from './http/signals.ts';

/** Tells a child to exit when its stdin ends, i.e. when the parent that started it is gone. */
export const EXIT_WITH_STDIN = '--exit-with-stdin';

export const SUPERVISOR_DEFAULTS = {
  /**
   * Milliseconds to wait for the ready message. A node builds the zoo and loads its
   * sessions first: a few seconds on 2 cores, far more under load from other work.
   */
  readyTimeoutMs: 60_000,
  /**
   * Milliseconds between SIGTERM and SIGKILL: longer than a service's own shutdown
   * deadline (shutdownTimeoutMs, 25 s by default, common/http/limits.ts) plus the 3 s its
   * signal handler allows past it (EXIT_MARGIN_MS), so a service that drains slowly is
   * never killed before it gives up by itself. It rarely takes long: a full default queue
   * (256 batch-1 cnn requests) at the 3,300 inferences/s measured on 2 cores
   * (docs/performance.md) drains in about 0.08 s, a generation of 1,000 tokens in 1 s.
   */
  stopGraceMs: 30_000,
  /** Characters of a child's output kept for error messages (the end of it). */
  outputTailChars: 64 * 1024,
} as const;

/** How a child ended: an exit code, or the signal that killed it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The child's ready line: its URL and whatever else it reports (its effective config, say). */
export interface ReadyMessage {
  url: string;
  [key: string]: unknown;
}

export interface ChildSpec {
  /** For messages: "edge node", "router". */
  name: string;
  /** The service script, a path or a file: URL. */
  script: string | URL;
  args?: readonly string[];
  /** Node's own flags before the script; default `--import tsx` (TypeScript sources). */
  nodeArgs?: readonly string[];
  /**
   * A command that runs node, e.g. `['taskset', '--cpu-list', '0']` to pin it to CPU 0.
   * It must exec node in its own process (taskset and nice do), so the pid stays node's.
   */
  wrapper?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  readyTimeoutMs?: number;
  stopGraceMs?: number;
  /**
   * 'inherit' (default): the child's stderr goes to ours as it comes. 'collect': it is
   * kept (the last 64 Ki characters) and quoted when the child fails to start.
   * Lines the child prints on stdout other than its ready message go the same way.
   */
  output?: 'inherit' | 'collect';
  /** Pass --exit-with-stdin and hold the child's stdin (default true). */
  exitWithParent?: boolean;
  /**
   * Run it in a process group of its own, so a Ctrl-C at the terminal reaches only the
   * parent, which then stops its children in the order it chooses (a router before the
   * nodes behind it). Needs exitWithParent: it is what ends the child if the parent dies.
   */
  ownProcessGroup?: boolean;
}

export function describeExit(exit: ChildExit): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** The last characters of a child's output, bounded. */
class OutputTail {
  private text = '';
  constructor(private readonly limit: number) {}
  add(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text.length > this.limit ? this.text.slice(-this.limit) : this.text;
  }
}

/** A running child that reported ready. */
export class SupervisedChild {
  /** How it ended, once it has. */
  exit: ChildExit | undefined;
  /** Resolves when the child has exited, however that came about. */
  readonly exited: Promise<ChildExit>;
  private stopping: Promise<ChildExit> | undefined;

  constructor(
    readonly name: string,
    private readonly process: ChildProcess,
    readonly ready: ReadyMessage,
    private readonly tail: OutputTail,
    exited: Promise<ChildExit>,
    private readonly graceMs: number,
  ) {
    this.exited = exited.then((exit) => {
      this.exit = exit;
      return exit;
    });
  }

  get url(): string {
    return this.ready.url;
  }

  get pid(): number {
    return this.process.pid ?? -1;
  }

  /** True once stop() was called: an exit after that was asked for. */
  get stopRequested(): boolean {
    return this.stopping !== undefined;
  }

  /** What the child printed (with output 'collect'; empty with 'inherit'). */
  output(): string {
    return this.tail.toString();
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves with how it ended. */
  stop(graceMs = this.graceMs): Promise<ChildExit> {
    this.stopping ??= (async () => {
      if (this.exit !== undefined) return this.exit;
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.stopping;
  }
}

function scriptPath(script: string | URL): string {
  return script instanceof URL || script.startsWith('file:') ? fileURLToPath(script) : script;
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/**
 * Start one child and wait for its ready message. Rejects with the child's own code
 * when it reports a failure, ES_INTERNAL when it exits without a word, ES_TIMEOUT when
 * it stays silent past `readyTimeoutMs` (the child is killed then).
 *
 * @example
 * const node = await startChild({ name: 'edge node', script: 'bench/perf/serving/serve-child.ts',
 *   args: [JSON.stringify({ models: ['cnn'] })] });
 * console.log(node.url);
 * await node.stop();
 */
export async function startChild(spec: ChildSpec): Promise<SupervisedChild> {
  const collect = spec.output === 'collect';
  const exitWithParent = spec.exitWithParent ?? true;
  const readyTimeoutMs = spec.readyTimeoutMs ?? SUPERVISOR_DEFAULTS.readyTimeoutMs;
  const args = [
    ...(spec.nodeArgs ?? ['--import', 'tsx']),
    scriptPath(spec.script),
    ...(spec.args ?? []),
    ...(exitWithParent ? [EXIT_WITH_STDIN] : []),
  ];
  const [command, ...commandArgs] =
    spec.wrapper !== undefined && spec.wrapper.length > 0
      ? [...spec.wrapper, process.execPath, ...args]
      : [process.execPath, ...args];
  const child = spawn(command!, commandArgs, {
    // While this process lives it holds the child's stdin open; when it dies, stdin ends.
    stdio: [exitWithParent ? 'pipe' : 'ignore', 'pipe', collect ? 'pipe' : 'inherit'],
    detached: exitWithParent && (spec.ownProcessGroup ?? false),
    ...(spec.env === undefined ? {} : { env: spec.env }),
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
  });
  const tail = new OutputTail(SUPERVISOR_DEFAULTS.outputTailChars);
  const passOn = (text: string) => {
    if (collect) tail.add(text);
    else process.stderr.write(text);
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => tail.add(text));
  // Never written to: an EPIPE once the child is gone is expected.
  child.stdin?.on('error', () => {});

  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // A child that cannot be spawned at all emits 'error' (and perhaps no 'exit').
  const spawnFailed = once(child, 'error').then(([error]) => {
    throw new EdgeshiftError(
      'ES_INTERNAL',
      `${spec.name}: cannot start: ${(error as Error).message}`,
    );
  });
  spawnFailed.catch(() => {});

  const lines = createInterface({ input: child.stdout! });
  let announce: ((message: ReadyMessage) => void) | undefined;
  let refuse: ((error: Error) => void) | undefined;
  const announced = new Promise<ReadyMessage>((resolve, reject) => {
    announce = resolve;
    refuse = reject;
  });
  lines.on('line', (line) => {
    if (announce === undefined) {
      passOn(`${line}\n`);
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      message = undefined;
    }
    if (typeof message === 'object' && message !== null) {
      const fields = message as Record<string, unknown>;
      if (typeof fields.url === 'string') {
        announce(fields as ReadyMessage);
        announce = undefined;
        return;
      }
      if (typeof fields.error === 'string') {
        const code: ErrorCode = isErrorCode(fields.code) ? fields.code : 'ES_INTERNAL';
        refuse?.(new EdgeshiftError(code, `${spec.name}: ${fields.error}`));
        announce = undefined;
        return;
      }
    }
    passOn(`${line}\n`);
  });

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new EdgeshiftError(
          'ES_TIMEOUT',
          `${spec.name} did not report ready within ${readyTimeoutMs} ms`,
        ),
      );
    }, readyTimeoutMs);
  });
  // Its last lines may still be in the pipe when 'exit' fires: read them first, so a
  // failure line wins over a bare exit.
  const stdoutClosed = once(lines, 'close');
  const exitedEarly = Promise.all([exited, stdoutClosed]).then(([exit]) => {
    const output = lastLines(tail.toString(), 20);
    const where = collect
      ? output === ''
        ? ' and printed nothing'
        : `; its last output:\n${output}`
      : ' (its output is above)';
    throw new EdgeshiftError(
      'ES_INTERNAL',
      `${spec.name} ${describeExit(exit)} before it was ready${where}`,
    );
  });
  try {
    const ready = await Promise.race([announced, exitedEarly, timeout, spawnFailed]);
    return new SupervisedChild(
      spec.name,
      child,
      ready,
      tail,
      exited,
      spec.stopGraceMs ?? SUPERVISOR_DEFAULTS.stopGraceMs,
    );
  } catch (error) {
    // A child that never spawned has no pid and will not emit 'exit'.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    exitedEarly.catch(() => {});
  }
}

/**
 * Several children at once: started together, stopped in the reverse order (a router
 * before the nodes behind it). Emits 'started' (child) for each child that reported
 * ready, and 'exit' (child, exit) when a child ends that was not asked to stop.
 */
export class Supervisor extends EventEmitter {
  private readonly running: SupervisedChild[] = [];

  get children(): readonly SupervisedChild[] {
    return this.running;
  }

  async start(spec: ChildSpec): Promise<SupervisedChild> {
    return this.track(await startChild(spec));
  }

  /**
   * Starts every spec at once; they count as started in the order given. If any fails,
   * stops those that started and rethrows the first failure.
   */
  async startAll(specs: readonly ChildSpec[]): Promise<SupervisedChild[]> {
    const results = await Promise.allSettled(specs.map((spec) => startChild(spec)));
    const children: SupervisedChild[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') children.push(this.track(result.value));
    }
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stopAll();
      throw failed.reason;
    }
    return children;
  }

  private track(child: SupervisedChild): SupervisedChild {
    this.running.push(child);
    this.emit('started', child);
    void child.exited.then((exit) => {
      if (!child.stopRequested) this.emit('exit', child, exit);
    });
    return child;
  }

  /** Stops every child, the last started first; resolves with how each ended. */
  async stopAll(graceMs?: number): Promise<Map<SupervisedChild, ChildExit>> {
    const exits = new Map<SupervisedChild, ChildExit>();
    for (const child of [...this.running].reverse()) exits.set(child, await child.stop(graceMs));
    this.running.length = 0;
    return exits;
  }
}

// The child's side.

function writeLine(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** The ready line: the parent waits for it. */
export function announceReady(message: ReadyMessage): void {
  writeLine(message);
}

/** The failure line: the parent rejects with this code and message. */
export function announceFailure(error: unknown): void {
  if (isEdgeshiftError(error)) writeLine({ error: error.message, code: error.code });
  else writeLine({ error: error instanceof Error ? error.message : String(error) });
}

export interface ChildService {
  ready: ReadyMessage;
  close(): Promise<void>;
  /** The service's shutdown deadline: past it (and a margin) the process exits anyway. */
  shutdownTimeoutMs?: number;
}

/**
 * Runs a service as a supervised child: starts it, announces ready (or the failure, and
 * exits 1), closes it gracefully on SIGTERM / SIGINT, and, when started with
 * --exit-with-stdin, when the parent goes away.
 *
 * @example
 * await serveAsChild(async () => {
 *   const node = await createNode(options);
 *   const { url } = await node.listen();
 *   return { ready: { url }, close: () => node.close() };
 * });
 */
export async function serveAsChild(start: () => Promise<ChildService>): Promise<void> {
  let service: ChildService;
  try {
    service = await start();
  } catch (error) {
    announceFailure(error);
    process.exitCode = 1;
    return;
  }
  installSignalHandlers(service);
  if (process.argv.includes(EXIT_WITH_STDIN)) {
    process.stdin.resume();
    process.stdin.once('end', () => {
      service.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  announceReady(service.ready);
}
