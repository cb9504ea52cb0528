/**
 * How a browser joins as a device: the page's URLs, one per address of this machine
 * the router listens on, the token in the fragment (docs/device.md).
 */
import { networkInterfaces } from 'node:os';
import { DEVICE_PATH } from './protocol.ts';

/** The machine's IPv4 addresses other than loopback (what a phone on the same Wi-Fi can reach). */
export function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

/** The page's URL on `routerUrl`, the token (if any) in the fragment. */
export function deviceUrl(routerUrl: string, token: string | undefined): string {
  const url = new URL(DEVICE_PATH, routerUrl);
  if (token !== undefined) url.hash = `token=${encodeURIComponent(token)}`;
  return url.href;
}

/**
 * Lines for the terminal: where to open the page. A router on every address (0.0.0.0)
 * is reachable on each LAN address; one on loopback only from this machine.
 *
 * @example
 * for (const line of deviceJoinLines('http://0.0.0.0:8000', token)) console.error(line);
 */
export function deviceJoinLines(routerUrl: string, token: string | undefined): string[] {
  const url = new URL(routerUrl);
  const wildcard = url.hostname === '0.0.0.0' || url.hostname === '[::]';
  const hosts = wildcard ? lanAddresses() : [url.hostname];
  const lines = ['  device page (open it in a browser to join as a device; docs/device.md):'];
  for (const host of hosts) {
    const at = new URL(routerUrl);
    at.hostname = host;
    lines.push(`    ${deviceUrl(at.href, token)}`);
  }
  if (!wildcard && (url.hostname === '127.0.0.1' || url.hostname === 'localhost'))
    lines.push(
      '    (this machine only: --router-host 0.0.0.0 --token <token> lets a phone on the same network join)',
    );
  return lines;
}
