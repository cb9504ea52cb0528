/**
 * What each running link adds, measured the way a client sees it: round trips of
 * `GET /v2/health/live` over one kept-alive connection through the link and straight to
 * the node behind it, the medians' difference set beside the link's configured round
 * trip. `edgeshift up` prints it once everything is ready, so the delays in front of the
 * tiers are shown measured, not only configured.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { median } from '../common/stats.ts';

export interface LinkCheck {
  tier: string;
  configuredRttMs: number;
  /** Median round trip through the link less straight to the node, ms. */
  measuredRttMs: number;
  /** The two medians, ms. */
  throughMs: number;
  directMs: number;
  samples: number;
}

async function roundTrips(url: string, count: number): Promise<number[]> {
  const pool = new Pool(url, { connections: 1 });
  try {
    const times: number[] = [];
    // The first opens the connection (and pays the link's handshake round trip).
    for (let i = 0; i <= count; i++) {
      const started = performance.now();
      const answer = await pool.request({ path: '/v2/health/live', method: 'GET' });
      await answer.body.dump();
      if (i > 0) times.push(performance.now() - started);
    }
    return times;
  } finally {
    await pool.close();
  }
}

export async function checkLink(
  tier: string,
  linkUrl: string,
  nodeUrl: string,
  configuredRttMs: number,
  samples = 7,
): Promise<LinkCheck> {
  const through = await roundTrips(linkUrl, samples);
  const direct = await roundTrips(nodeUrl, samples);
  const throughMs = median(through);
  const directMs = median(direct);
  return {
    tier,
    configuredRttMs,
    measuredRttMs: throughMs - directMs,
    throughMs,
    directMs,
    samples,
  };
}
