/**
 * The supervisor with real child processes (test/support/child-service.ts): ready
 * messages, failures with their codes, output kept for errors, stop with SIGTERM then
 * SIGKILL, several children at once, and children that end when their parent dies.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EdgeshiftError } from '../../services/common/errors.ts';
import {
  type ChildExit,
  type ChildSpec,
  describeExit,
  type SupervisedChild,
  Supervisor,
  startChild,
} from '../../services/common/supervisor.ts';
import { tasksetAvailable, tasksetWrapper } from '../../services/up/cpus.ts';
import { alive } from '../support/processes.ts';
import { until } from '../support/raw-socket.ts';

const SCRIPT = fileURLToPath(new URL('../support/child-service.ts', import.meta.url));
const started: SupervisedChild[] = [];
after(async () => {
  await Promise.all(started.map((c) => c.stop(0)));
});

function spec(mode: string, extra: Partial<ChildSpec> = {}): ChildSpec {
  return { name: `${mode} child`, script: SCRIPT, args: [mode], output: 'collect', ...extra };
}

async function start(mode: string, extra: Partial<ChildSpec> = {}): Promise<SupervisedChild> {
  const child = await startChild(spec(mode, extra));
  started.push(child);
  return child;
}

async function rejection(promise: Promise<unknown>): Promise<EdgeshiftError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EdgeshiftError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('startChild', () => {
  it('waits for the ready line, and the child serves at its URL', async () => {
    const child = await start('ready');
    assert.match(child.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(child.ready.pid, child.pid);
    assert.equal(await (await fetch(child.url)).text(), 'ok');
    const exit = await child.stop();
    assert.deepEqual(exit, { code: 0, signal: null } satisfies ChildExit);
    assert.equal(describeExit(exit), 'exited with code 0');
    assert.deepEqual(await child.stop(), exit, 'stopping twice reports the same exit');
  });

  it('runs node under a wrapper that execs it (taskset), and in a process group of its own', async (t) => {
    if (process.platform !== 'linux' || !tasksetAvailable()) {
      t.skip('needs Linux taskset (util-linux)');
      return;
    }
    const child = await start('ready', {
      wrapper: tasksetWrapper('0'),
      ownProcessGroup: true,
    });
    assert.equal(child.ready.pid, child.pid, 'the pid is node itself, not the wrapper');
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    assert.match(status, /^Cpus_allowed_list:\s+0$/m);
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const processGroup = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    assert.equal(processGroup, child.pid, 'it leads a process group of its own');
    assert.deepEqual(await child.stop(), { code: 0, signal: null });
  });

  it('passes lines other than the ready message on, and keeps them with collect', async () => {
    const child = await start('noisy');
    assert.match(child.output(), /warming up, not JSON/);
    // stderr is a pipe of its own: its line may be read after the ready message on stdout.
    await until(() => /a warning on stderr/.test(child.output()));
    await child.stop();
  });

  it("raises the child's own code when it reports a failure", async () => {
    const error = await rejection(startChild(spec('fail')));
    assert.equal(error.code, 'ES_MODEL_NOT_FOUND');
    assert.match(error.message, /fail child: unknown model 'nope'/);
  });

  it('raises ES_INTERNAL with its exit code and last output when it exits without a word', async () => {
    const error = await rejection(startChild(spec('crash')));
    assert.equal(error.code, 'ES_INTERNAL');
    assert.match(error.message, /exited with code 3 before it was ready/);
    assert.match(error.message, /boom: the service broke/);
  });

  it('raises ES_TIMEOUT for a child that never reports ready, and kills it', async () => {
    const error = await rejection(startChild(spec('silent', { readyTimeoutMs: 300 })));
    assert.equal(error.code, 'ES_TIMEOUT');
    assert.match(error.message, /within 300 ms/);
  });

  it('raises ES_INTERNAL when the process cannot even be spawned', async () => {
    const error = await rejection(
      startChild(
        spec('ready', { cwd: fileURLToPath(new URL('./no-such-folder/', import.meta.url)) }),
      ),
    );
    assert.equal(error.code, 'ES_INTERNAL');
    assert.match(error.message, /ready child: cannot start/);
  });

  it('kills a child that ignores SIGTERM once the grace period is over', async () => {
    const child = await start('stubborn', { stopGraceMs: 200 });
    const exit = await child.stop();
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
    assert.equal(describeExit(exit), 'killed by SIGKILL');
  });

  it('reports how a child ended that nobody stopped', async () => {
    const child = await start('ready');
    process.kill(child.pid, 'SIGKILL');
    assert.deepEqual(await child.exited, { code: null, signal: 'SIGKILL' });
    assert.deepEqual(child.exit, { code: null, signal: 'SIGKILL' });
  });

  it('a child ends when its parent dies, even by SIGKILL', async () => {
    const parent = await start('parent');
    const grandchild = parent.ready.childPid as number;
    assert.equal(await (await fetch(parent.url)).text(), 'ok', 'the grandchild serves');
    process.kill(parent.pid, 'SIGKILL');
    await parent.exited;
    // Not our child, so there is no exit event to wait for: poll, with a deadline.
    const deadline = Date.now() + 20_000;
    while (alive(grandchild)) {
      assert.ok(Date.now() < deadline, 'the grandchild outlived its parent');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
});

describe('Supervisor', () => {
  it('starts several children at once and stops them all, last started first', async () => {
    const supervisor = new Supervisor();
    const children = await supervisor.startAll([spec('ready'), spec('ready'), spec('noisy')]);
    assert.equal(supervisor.children.length, 3);
    assert.equal(new Set(children.map((c) => c.url)).size, 3);
    const order: string[] = [];
    for (const child of children) void child.exited.then(() => order.push(child.url));
    const exits = await supervisor.stopAll();
    assert.deepEqual(
      [...exits.values()].map((e) => e.code),
      [0, 0, 0],
    );
    assert.deepEqual(order, children.map((c) => c.url).reverse());
    assert.equal(supervisor.children.length, 0);
  });

  it('stops the children that started when one of them fails, and rethrows its error', async () => {
    const supervisor = new Supervisor();
    const ready: SupervisedChild[] = [];
    supervisor.on('started', (child: SupervisedChild) => ready.push(child));
    const error = await rejection(
      supervisor.startAll([spec('ready'), spec('fail'), spec('ready')]),
    );
    assert.equal(error.code, 'ES_MODEL_NOT_FOUND');
    assert.equal(ready.length, 2);
    for (const child of ready) assert.deepEqual(child.exit, { code: 0, signal: null });
    assert.equal(supervisor.children.length, 0);
  });

  it("emits 'exit' for a child that ended without being asked to", async () => {
    const supervisor = new Supervisor();
    const [child] = await supervisor.startAll([spec('ready')]);
    const exited = new Promise<[SupervisedChild, ChildExit]>((resolve) =>
      supervisor.once('exit', (c: SupervisedChild, e: ChildExit) => resolve([c, e])),
    );
    process.kill(child!.pid, 'SIGTERM');
    const [which, exit] = await exited;
    assert.equal(which, child);
    assert.deepEqual(exit, { code: 0, signal: null });
    await supervisor.stopAll();
  });
});
