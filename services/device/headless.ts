/**
 * The device page in headless Chromium, as a tier of its own (`edgeshift up --device
 * browser`): Debian's `chromium`, driven by playwright-core, opens the router's /device
 * page and leaves it running; it takes workloads from the router like a phone would.
 * Resolves once the page says it is ready (`edgeshift-device: ready` on its console).
 */
import { existsSync } from 'node:fs';
import { EdgeshiftError } from '../common/errors.ts';
import { DEVICE_PATH } from './protocol.ts';

/** Debian's and Ubuntu's chromium package puts it here; EDGESHIFT_CHROMIUM overrides it. */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export interface BrowserDeviceOptions {
  /** The router's base URL, e.g. http://127.0.0.1:8000. */
  routerUrl: string;
  token?: string;
  name?: string;
  model?: string;
  policy?: string;
  /** Milliseconds of warm-up inferences before the page says it is ready. */
  warmupMs?: number;
  executablePath?: string;
  /** Default 180 s: the 28 MB WASM compiles first. */
  readyTimeoutMs?: number;
  /** Each line the page writes to its console. */
  onConsole?: (line: string) => void;
}

export interface BrowserDevice {
  /** The page's URL without the token. */
  url: string;
  name: string;
  close(): Promise<void>;
}

/** The page's URL for these settings; the token, if any, in the fragment. */
export function devicePageUrl(options: BrowserDeviceOptions): string {
  const url = new URL(DEVICE_PATH, options.routerUrl);
  url.searchParams.set('model', options.model ?? 'cnn');
  url.searchParams.set('name', options.name ?? 'browser');
  if (options.policy !== undefined) url.searchParams.set('policy', options.policy);
  if (options.warmupMs !== undefined) url.searchParams.set('warmup', String(options.warmupMs));
  if (options.token !== undefined) url.hash = `token=${encodeURIComponent(options.token)}`;
  return url.href;
}

/**
 * @example
 * const device = await startBrowserDevice({ routerUrl: 'http://127.0.0.1:8000' });
 * // ... the harness posts workloads to the router; the page runs them ...
 * await device.close();
 */
export async function startBrowserDevice(options: BrowserDeviceOptions): Promise<BrowserDevice> {
  const executablePath =
    options.executablePath ?? process.env['EDGESHIFT_CHROMIUM'] ?? DEFAULT_CHROMIUM;
  if (!existsSync(executablePath)) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `no Chromium at ${executablePath}: install Debian's chromium package (apt-get install chromium) or set EDGESHIFT_CHROMIUM`,
    );
  }
  const { chromium } = await import('playwright-core');
  // Chromium's sandbox refuses to run as root (containers); elsewhere it stays on.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  const browser = await chromium.launch({ executablePath, args });
  try {
    const page = await browser.newPage();
    const ready = page.waitForEvent('console', {
      predicate: (m) => m.text().startsWith('edgeshift-device:'),
      timeout: options.readyTimeoutMs ?? 180_000,
    });
    page.on('console', (m) => options.onConsole?.(m.text()));
    const url = devicePageUrl(options);
    await page.goto(url);
    const line = (await ready).text();
    if (line !== 'edgeshift-device: ready')
      throw new EdgeshiftError('ES_NOT_READY', `the device page did not start: ${line}`);
    const shown = new URL(url);
    shown.hash = '';
    return {
      url: shown.href,
      name: options.name ?? 'browser',
      close: () => browser.close(),
    };
  } catch (error) {
    await browser.close().catch(() => {});
    throw error;
  }
}
