/**
 * report.html in headless Chromium (Debian's package, driven by playwright-core): it must
 * draw all four kinds of chart from a file: URL with every other request blocked, with
 * no console or page error. Leaves a full-page screenshot in the temp folder for a look.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { writeReports } from '../../bench/report/index.ts';
import {
  buildManifest,
  buildSparseManifest,
  buildSparseSummary,
  buildSummary,
} from './fixtures/summary.ts';

const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOT = join(tmpdir(), 'edgeshift-report-screenshot.png');

/** In the page: each chart canvas, how many pixels are drawn, and how many in `color`. */
const INK = `(${String.raw`(colors) => Array.from(document.querySelectorAll('canvas[data-chart]')).map((canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const want = colors[canvas.dataset.chart].match(/\w\w/g).map((h) => parseInt(h, 16));
  let inked = 0, colored = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    inked++;
    if (Math.abs(data[i] - want[0]) + Math.abs(data[i + 1] - want[1]) + Math.abs(data[i + 2] - want[2]) < 30) colored++;
  }
  return { kind: canvas.dataset.chart, pixels: canvas.width * canvas.height, inked, colored };
})`})`;

/** A color each chart draws its data in (hyperscale's, the front's, edge's). */
const DATA_COLORS = { cdf: '4e79a7', energy: '4e79a7', pareto: 'd62728', timeline: 'f28e2b' };

interface Visit {
  page: Page;
  network: string[];
  errors: string[];
}

async function openReport(browser: Browser, html: string): Promise<Visit> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const network: string[] = [];
  const errors: string[] = [];
  const local = (url: string) => url.startsWith('file:') || url.startsWith('data:');
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (local(url)) return route.continue();
    network.push(url);
    return route.abort();
  });
  page.on('request', (request) => {
    if (!local(request.url()) && !network.includes(request.url())) network.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
  await page.goto(pathToFileURL(html).href);
  await page.waitForSelector('body[data-charts-ready="true"]', { timeout: 15_000 });
  return { page, network, errors };
}

describe('report.html in headless Chromium', () => {
  let browser: Browser;
  let dir: string;

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium), as .ci/run does`,
    );
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-report-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('draws the four charts offline, with no console or page error', async (t) => {
    const { files } = await writeReports(join(dir, 'full'), buildSummary(), buildManifest());
    const html = files.find((f) => f.endsWith('report.html'))!;
    const { page, network, errors } = await openReport(browser, html);

    const canvases = (await page.evaluate(`${INK}(${JSON.stringify(DATA_COLORS)})`)) as Array<{
      kind: string;
      pixels: number;
      inked: number;
      colored: number;
    }>;
    for (const kind of Object.keys(DATA_COLORS)) {
      const drawn = canvases.filter((c) => c.kind === kind);
      assert.ok(drawn.length > 0, `no ${kind} canvas`);
      for (const c of drawn) {
        assert.ok(c.pixels > 10_000, `${kind}: canvas of ${c.pixels} pixels`);
        assert.ok(
          c.inked > c.pixels * 0.01,
          `${kind}: only ${c.inked} of ${c.pixels} pixels drawn`,
        );
        assert.ok(c.colored > 20, `${kind}: the data color is missing (${c.colored} pixels)`);
      }
    }
    assert.equal(canvases.filter((c) => c.kind === 'timeline').length, 2, 'one per routed phase');

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);
    assert.deepEqual(network, [], 'requests that left the page');
    assert.deepEqual(errors, []);
  });

  it('says n/a where a run measured nothing, with no error', async () => {
    const { files } = await writeReports(
      join(dir, 'sparse'),
      buildSparseSummary(),
      buildSparseManifest(),
    );
    const html = files.find((f) => f.endsWith('report.html'))!;
    const { page, network, errors } = await openReport(browser, html);
    const text = (await page.locator('.chart-grid').textContent()) ?? '';
    assert.match(text, /n\/a \(no latency was measured in this run\)/);
    assert.match(text, /n\/a \(no energy was measured in this run\)/);
    assert.match(text, /n\/a \(no routed phases in this run\)/);
    assert.equal(await page.locator('canvas[data-chart]').count(), 0);
    assert.deepEqual(network, []);
    assert.deepEqual(errors, []);
  });
});
