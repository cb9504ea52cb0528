/**
 * Named link profiles: the network distance between a client and each tier, each figure
 * with where it comes from. Round trips are split evenly between the two directions;
 * bandwidths are per direction (uplink: towards the node). "assumed" marks a round
 * value chosen for the testbed; replace it with a measurement of your own path
 * (docs/netem.md shows how).
 */
import type { DirectionSpec } from './shaper.ts';

export interface LinkProfile {
  name: string;
  /** Round-trip propagation delay, ms. */
  rttMs: number;
  /** Standard deviation of each one-way delay, ms. */
  jitterMs: number;
  /** Towards the node and back, Mbit/s; null: no limit. */
  uplinkMbps: number | null;
  downlinkMbps: number | null;
  source: string;
}

/**
 * Light in optical fibre travels at about c / 1.47 ≈ 204,000 km/s (the group index of
 * standard single-mode fibre at 1550 nm is about 1.47, ITU-T G.652), so a round trip
 * costs about 1 ms per 100 km of fibre path.
 */
const FIBRE_MS_PER_100KM_RTT = ((2 * 100) / 204_000) * 1000;

export const LINK_PROFILES: Readonly<Record<string, LinkProfile>> = Object.freeze({
  'on-device': {
    name: 'on-device',
    rttMs: 0,
    jitterMs: 0,
    uplinkMbps: null,
    downlinkMbps: null,
    source: 'no network: the client and the model share the device',
  },
  'wifi-edge': {
    name: 'wifi-edge',
    rttMs: 4,
    jitterMs: 1,
    uplinkMbps: 100,
    downlinkMbps: 200,
    source:
      'assumed: a box on the same Wi-Fi LAN (802.11ac/ax), a few ms round trip with contention jitter, a few hundred Mbit/s of real throughput',
  },
  'metro-edge': {
    name: 'metro-edge',
    rttMs: 5,
    jitterMs: 0.3,
    uplinkMbps: 1000,
    downlinkMbps: 1000,
    source: `assumed: an edge site in the same metro area, ~100 km of fibre (${FIBRE_MS_PER_100KM_RTT.toFixed(2)} ms round trip) plus access and switching, gigabit`,
  },
  'regional-cloud': {
    name: 'regional-cloud',
    rttMs: 30,
    jitterMs: 1,
    uplinkMbps: 1000,
    downlinkMbps: 1000,
    source:
      'assumed: a cloud region about 1,500 km of fibre away (15 ms at the speed of light in fibre) with routing detours doubling it, gigabit',
  },
  'cross-continent': {
    name: 'cross-continent',
    rttMs: 150,
    jitterMs: 3,
    uplinkMbps: 500,
    downlinkMbps: 500,
    source:
      'derived: a 10,000 km great-circle distance (e.g. Frankfurt to Tokyo is about 9,300 km) is ~100 ms of fibre round trip; real routes run ~1.5x longer, ~150 ms',
  },
  lte: {
    name: 'lte',
    rttMs: 50,
    jitterMs: 8,
    uplinkMbps: 10,
    downlinkMbps: 30,
    source:
      'assumed: a 4G/LTE phone; commercial LTE round trips of several tens of ms (CMU-CS-22-115 found commercial 4G LTE fails to hold 50 ms reliably), tens of Mbit/s down',
  },
  '5g': {
    name: '5g',
    rttMs: 25,
    jitterMs: 4,
    uplinkMbps: 30,
    downlinkMbps: 150,
    source:
      'assumed: a 5G (non-standalone) phone; only 5% of mobile users see minimum latencies under 20 ms and 60% see under 50 Mbit/s (Rizvi, Heidemann, Plonka, "Third-Party Assessment of Mobile Performance in the 5G Era", arXiv:2507.18834, 2025)',
  },
});

/** The two directions of a profile, for createLink. */
export function profileDirections(profile: LinkProfile): {
  up: DirectionSpec;
  down: DirectionSpec;
} {
  const oneWay = profile.rttMs / 2;
  return {
    up: { delayMs: oneWay, jitterMs: profile.jitterMs, bandwidthMbps: profile.uplinkMbps },
    down: { delayMs: oneWay, jitterMs: profile.jitterMs, bandwidthMbps: profile.downlinkMbps },
  };
}

/**
 * The equivalent `tc netem` settings, per direction (egress of each side's interface):
 * `tc qdisc add dev <if> root netem delay <d>ms <j>ms distribution normal rate <r>mbit`.
 */
export function tcNetem(profile: LinkProfile, direction: 'up' | 'down'): string {
  const d = profileDirections(profile)[direction];
  const parts = [`delay ${d.delayMs}ms`];
  if (d.jitterMs > 0) parts.push(`${d.jitterMs}ms distribution normal`);
  if (d.bandwidthMbps !== null) parts.push(`rate ${d.bandwidthMbps}mbit`);
  return `tc qdisc add dev <interface> root netem ${parts.join(' ')}`;
}
