import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExternalMeter, parseExternalValue } from '../../services/energy/external.ts';
import type { MeterReading } from '../../services/energy/types.ts';
import { TwoClocks } from './test-support/two-clocks.ts';

const joulesOf = (r: MeterReading): number => r.domains[0]!.joules!;

describe('external meter', () => {
  let dir: string;
  let server: Server;
  let body = '';
  let url = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-external-'));
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/power`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('parses numbers and {joules}/{watts} objects, and refuses the rest', () => {
    assert.deepEqual(parseExternalValue('12.5\n'), { kind: 'watts', value: 12.5 });
    assert.deepEqual(parseExternalValue('12.5', 'joules'), { kind: 'joules', value: 12.5 });
    assert.deepEqual(parseExternalValue('{"joules": 3600}'), { kind: 'joules', value: 3600 });
    assert.deepEqual(parseExternalValue('{"watts": 7, "volts": 5}'), { kind: 'watts', value: 7 });
    assert.throws(() => parseExternalValue('hello'), /expected a number or JSON/);
    assert.throws(() => parseExternalValue('{"amps": 2}'), /expected a number/);
  });

  it('integrates watts from a command', async () => {
    const file = join(dir, 'watts');
    await writeFile(file, '100\n');
    const clock = new TwoClocks();
    const meter = new ExternalMeter({ command: `cat '${file}'`, pollMs: 50, ...clock.options });
    const status = await meter.start();
    assert.equal(status.state, 'working');
    assert.match(status.reason, /reports watts \(integrated\)/);
    const a = await meter.readAt(clock.wallMs);
    clock.advance(150);
    const b = await meter.readAt(clock.wallMs);
    assert.equal(b.domains[0]?.provenance, 'external');
    assert.equal(b.domains[0]?.domain, 'wall');
    assert.equal(b.timeMs - a.timeMs, 150);
    assert.ok(Math.abs(joulesOf(b) - joulesOf(a) - 15) < 1e-9);
    await meter.stop();
  });

  it('integrates watts over the monotonic clock: a wall-clock step back changes no joule', async () => {
    const file = join(dir, 'watts-stepped');
    await writeFile(file, '100\n');
    const clock = new TwoClocks();
    const meter = new ExternalMeter({ command: `cat '${file}'`, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    clock.advance(10_000);
    const a = await meter.readAt(clock.wallMs);
    assert.equal(joulesOf(a), 1000);
    clock.stepWall(-3_600_000);
    clock.advance(5_000);
    const b = await meter.readAt(clock.wallMs);
    assert.equal(joulesOf(b), 1500);
    assert.equal(b.timeMs, clock.wallMs, 'dated by the wall clock, step and all');
    await meter.stop();
  });

  it('differences cumulative joules from a URL; a reset counts nothing and is flagged', async () => {
    body = '{"joules": 1000}';
    const clock = new TwoClocks();
    const meter = new ExternalMeter({ url, domain: 'plug', ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    assert.equal(joulesOf(meter.read()), 0);
    body = '{"joules": 1600}';
    clock.advance(1000);
    assert.equal(joulesOf(await meter.readAt(clock.wallMs)), 600);
    assert.equal(meter.read().domains[0]?.excluded, undefined);
    body = '{"joules": 5}';
    clock.advance(1000);
    const reset = await meter.readAt(clock.wallMs);
    assert.equal(joulesOf(reset), 600, 'the interval of the reset counts nothing');
    assert.deepEqual(reset.domains[0]?.excluded, {
      ms: 1000,
      intervals: 1,
      last: `external URL ${url}: the counter fell from 1600 J to 5 J (reset, or a wrap of a range edgeshift does not know): nothing is counted for those 1.0 s`,
    });
    body = '{"joules": 25}';
    clock.advance(1000);
    assert.equal(joulesOf(await meter.readAt(clock.wallMs)), 620, 'counting resumes');
    assert.equal(meter.resets, 1);
    assert.deepEqual(meter.totalDomains(), ['plug']);
    await meter.stop();
  });

  it('does not bridge watts readings far apart: the gap is left out and flagged', async () => {
    const file = join(dir, 'watts-gap');
    await writeFile(file, '100\n');
    const clock = new TwoClocks();
    const meter = new ExternalMeter({ command: `cat '${file}'`, pollMs: 1000, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    clock.advance(1000);
    assert.equal(joulesOf(await meter.readAt(clock.wallMs)), 100);
    // No reading for a minute (the instrument unreachable, this process suspended).
    clock.advance(60_000);
    const after = await meter.readAt(clock.wallMs);
    assert.equal(joulesOf(after), 100);
    assert.equal(after.domains[0]?.excluded?.ms, 60_000);
    assert.match(
      after.domains[0]?.excluded?.last ?? '',
      /no sample for 60\.0 s, more than 10\.0 s: not bridged/,
    );
    await meter.stop();
  });

  it('turns error while its readings are stale, naming their age, and recovers with a fresh one', async () => {
    const file = join(dir, 'watts-stale');
    const hang = join(dir, 'hang');
    await writeFile(file, '30\n');
    const clock = new TwoClocks();
    const meter = new ExternalMeter({
      command: `if [ -e '${hang}' ]; then sleep 600; fi; cat '${file}'`,
      pollMs: 1000,
      timeoutMs: 300,
      ...clock.options,
    });
    assert.equal((await meter.start()).state, 'working');
    assert.equal(meter.status().state, 'working');
    // The instrument stops answering: each read hangs until its time limit.
    await writeFile(hang, '');
    clock.advance(10_500);
    const stale = meter.status();
    assert.equal(stale.state, 'error');
    assert.equal(
      stale.reason,
      `external: the latest reading is 10.5 s old (stale after 10.0 s): no read of command \`if [ -e '${hang}' ]; then sleep 600; fi; cat '${file}'\` has finished since`,
    );
    assert.match(stale.fix ?? '', /by hand to see whether it hangs or fails/);
    const failed = await meter.readAt(clock.wallMs);
    assert.match(failed.warnings?.[0] ?? '', /the read at the window edge failed/);
    assert.match(
      meter.status().reason,
      /: the latest read failed: `.*` failed: no answer within 300 ms$/,
    );
    await rm(hang);
    clock.advance(1000);
    await meter.readAt(clock.wallMs);
    assert.equal(meter.status().state, 'working', meter.status().reason);
    await meter.stop();
  });

  it('reports a command that prints no number as an error, with the fix', async () => {
    const meter = new ExternalMeter({ command: 'echo hello' });
    const status = await meter.start();
    assert.equal(status.state, 'error');
    assert.match(status.reason, /expected a number or JSON, got 'hello'/);
    assert.match(status.fix ?? '', /prints a number/);
    assert.equal(meter.read().domains[0]?.joules, null);
  });

  it('needs exactly one of command and url', () => {
    assert.throws(() => new ExternalMeter({}), /exactly one of command or url/);
    assert.throws(() => new ExternalMeter({ command: 'x', url: 'http://x' }), /exactly one/);
  });
});
