import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ExternalMeter } from '../../services/energy/external.ts';
import { NvidiaSmiMeter } from '../../services/energy/nvidia-smi.ts';
import { KILL_WAIT_MS } from '../../services/energy/owned-children.ts';
import { type FakeNvidiaSmi, installFakeNvidiaSmi } from './test-support/fake-nvidia-smi.ts';
import { noSuchProcess, processGone, waitUntil } from './test-support/processes.ts';

const HOST = fileURLToPath(new URL('./test-support/nvidia-smi-host.ts', import.meta.url));

/**
 * Hang detection only: a stop resolves by its own timers within grace + KILL_WAIT_MS;
 * this margin is for a loaded machine whose timers fire late, never the thing measured.
 */
const HANG_MARGIN_MS = 10_000;

/**
 * A shell command that ignores SIGTERM (`trap '' TERM`, inherited by its children) and
 * never answers, with a child of its own; it writes both pids to `dir` first.
 */
function stubbornCommand(dir: string): string {
  return `trap '' TERM; echo $$ > '${dir}/sh.pid'; sleep 600 & echo $! > '${dir}/sleep.pid'; wait`;
}

/** The pids the command has written so far (its shell's, then its child's). */
async function pidsWritten(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of ['sh.pid', 'sleep.pid']) {
    try {
      const pid = Number((await readFile(join(dir, name), 'utf8')).trim());
      if (pid > 0) pids.push(pid);
    } catch {
      break;
    }
  }
  return pids;
}

async function pidsIn(dir: string): Promise<number[]> {
  await waitUntil(
    () => existsSync(join(dir, 'sh.pid')) && existsSync(join(dir, 'sleep.pid')),
    'the command wrote its pids',
  );
  const read = async (name: string) => Number((await readFile(join(dir, name), 'utf8')).trim());
  return [await read('sh.pid'), await read('sleep.pid')];
}

describe('stopping child processes that ignore SIGTERM', () => {
  let fake: FakeNvidiaSmi | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await fake?.remove();
    fake = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('nvidia-smi: SIGTERM, then SIGKILL after the grace period; stop() resolves and the pid is gone', async () => {
    fake = await installFakeNvidiaSmi({ ignoreSigterm: true });
    const graceMs = 300;
    const meter = new NvidiaSmiMeter({ path: fake.path, stopGraceMs: graceMs, clockOffsetMs: 0 });
    assert.equal((await meter.start()).state, 'working');
    const pid = meter.samplerPid()!;
    const started = performance.now();
    await meter.stop();
    const tookMs = performance.now() - started;
    assert.deepEqual(
      await fake.signals(),
      [`SIGTERM ${pid}`],
      'it was asked first, and ignored it',
    );
    assert.ok(noSuchProcess(pid), `nvidia-smi ${pid} is gone (and reaped)`);
    assert.ok(tookMs < graceMs + KILL_WAIT_MS + HANG_MARGIN_MS, `stop() took ${tookMs} ms`);
  });

  // A time limit starts when the process is spawned, before it has set up its trap: on a
  // loaded machine SIGTERM may come first and end it (no escalation needed). What the
  // process left behind tells which happened, and each case is checked exactly.
  it('nvidia-smi: a detection query that hangs is stopped after its time limit, by SIGKILL if it ignores SIGTERM', async () => {
    fake = await installFakeNvidiaSmi({ mode: 'hang', ignoreSigterm: true });
    const meter = new NvidiaSmiMeter({ path: fake.path, detectTimeoutMs: 200, stopGraceMs: 300 });
    const status = await meter.start();
    assert.equal(status.state, 'error');
    const signals = await fake.signals();
    if (signals.length === 0) {
      assert.match(status.reason, /nvidia-smi failed \(no answer within 200 ms/);
      return;
    }
    assert.match(
      status.reason,
      /no answer within 200 ms \(killed with SIGKILL after ignoring SIGTERM for 300 ms\)/,
    );
    assert.ok(noSuchProcess(Number(signals[0]!.split(' ')[1])), 'it is gone');
  });

  it('external: a command that hangs is stopped after its time limit, with its child, by SIGKILL if it ignores SIGTERM', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-stubborn-'));
    const meter = new ExternalMeter({
      command: stubbornCommand(dir),
      timeoutMs: 200,
      stopGraceMs: 300,
    });
    const started = performance.now();
    const status = await meter.start();
    const tookMs = performance.now() - started;
    assert.equal(status.state, 'error');
    assert.ok(tookMs < 200 + 300 + KILL_WAIT_MS + HANG_MARGIN_MS, `start() took ${tookMs} ms`);
    // The shell creates sh.pid after the trap: it exists only if SIGTERM was ignored.
    if (!existsSync(join(dir, 'sh.pid'))) {
      assert.match(status.reason, /failed: no answer within 200 ms/);
      return;
    }
    assert.match(
      status.reason,
      /failed: no answer within 200 ms \(killed with SIGKILL after ignoring SIGTERM for 300 ms\)/,
    );
    const [sh, ...children] = await pidsWritten(dir);
    if (sh !== undefined) assert.ok(noSuchProcess(sh), `sh ${sh} is gone`);
    // The shell's child, if it got that far, died of the same SIGKILL (sent to the group).
    for (const pid of children) await waitUntil(() => processGone(pid), `sleep ${pid} is gone`);
    await meter.stop();
  });

  it('external: stop() ends a read under way within the grace period, not its time limit', async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-stubborn-'));
    const flag = join(dir, 'hang');
    await writeFile(join(dir, 'watts'), '40\n');
    const meter = new ExternalMeter({
      command: `if [ -e '${flag}' ]; then ${stubbornCommand(dir)}; fi; cat '${dir}/watts'`,
      timeoutMs: 600_000,
      stopGraceMs: 300,
    });
    assert.equal((await meter.start()).state, 'working');
    await writeFile(flag, '');
    meter.poll();
    const [sh, sleep] = await pidsIn(dir);
    const started = performance.now();
    await meter.stop();
    const tookMs = performance.now() - started;
    assert.ok(noSuchProcess(sh!), `sh ${sh} is gone`);
    await waitUntil(() => processGone(sleep!), `sleep ${sleep} is gone`);
    assert.ok(tookMs < 300 + KILL_WAIT_MS + HANG_MARGIN_MS, `stop() took ${tookMs} ms`);
  });

  it('a second signal exits at once and still leaves no nvidia-smi behind', async () => {
    fake = await installFakeNvidiaSmi({ ignoreSigterm: true });
    // A grace far longer than the test: only the second signal can end the host.
    const host = spawn(process.execPath, ['--import', 'tsx', HOST, fake.path, '600000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(host, 'exit');
    try {
      const [line] = (await once(createInterface({ input: host.stdout! }), 'line')) as [string];
      const { state, pid } = JSON.parse(line) as { state: string; pid: number };
      assert.equal(state, 'working');
      host.kill('SIGTERM');
      // The first signal is being handled: the host's stop() sent nvidia-smi SIGTERM.
      await waitUntil(
        async () => (await fake!.signals()).includes(`SIGTERM ${pid}`),
        'nvidia-smi got SIGTERM',
      );
      assert.ok(!processGone(pid), 'nvidia-smi ignores it and keeps running');
      host.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 130);
      await waitUntil(() => processGone(pid), `nvidia-smi ${pid} is gone after its host exited`);
    } finally {
      if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
    }
  });
});
