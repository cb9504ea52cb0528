/**
 * Named link profiles: the network distance between a client and each tier, each figure
 * with where it comes from. Round trips are split evenly between the two directions;
 * bandwidths are per direction (uplink: towards the node). A source names the public
 * measurement a figure rests on; "assumed" marks a round value chosen for the testbed
 * within what such measurements show, not a measurement itself. Replace either with a
 * measurement of your own path (docs/netem.md shows how and lists every figure).
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
 * Light in optical fibre travels at about c / 1.47 ≈ 204,000 km/s: the effective group
 * index of standard single-mode fibre (ITU-T G.652, e.g. Corning SMF-28) is about 1.468
 * at 1550 nm. So a round trip costs about 1 ms per 100 km of fibre path.
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
      'assumed, the quiet end of what is measured: a box on the same home Wi-Fi (802.11ac/ax, 5 GHz). Measurements find the Wi-Fi hop often far slower: more than half of TCP packets over 20 ms on a busy campus (Pei et al., "WiFi can be the weakest link of round trip network latency in the wild", INFOCOM 2016), high client-to-access-point round trips in many homes (Sundaresan et al., "Characterizing home network performance problems", 2013), and home Wi-Fi the throughput bottleneck whenever the access link exceeds 800 Mbit/s (Sharma et al., "Measuring the prevalence of WiFi bottlenecks in home access networks", PAM 2024)',
  },
  'metro-edge': {
    name: 'metro-edge',
    rttMs: 5,
    jitterMs: 0.3,
    uplinkMbps: 1000,
    downlinkMbps: 1000,
    source: `assumed: an edge site in the same metro area, ~100 km of fibre (${FIBRE_MS_PER_100KM_RTT.toFixed(2)} ms round trip at c / 1.47) plus access and switching, gigabit; the low end of fixed-access latency (Ookla, Speedtest U.S. market reports: lowest ISP median 9 ms in Q2 2020, lowest multi-server median 15 ms in Q2 2023)`,
  },
  'regional-cloud': {
    name: 'regional-cloud',
    rttMs: 30,
    jitterMs: 1,
    uplinkMbps: 1000,
    downlinkMbps: 1000,
    source:
      'measured: Azure network round-trip latency statistics, P50 over 30 days to 19 June 2024: East US to Central US 31-37 ms, East US to South Central US 33-38 ms (learn.microsoft.com/azure/networking/azure-network-latency); about 1,500 km of fibre (15 ms at c / 1.47) with routing detours doubling it; the jitter and the gigabit are assumed',
  },
  'cross-continent': {
    name: 'cross-continent',
    rttMs: 150,
    jitterMs: 3,
    uplinkMbps: 500,
    downlinkMbps: 500,
    source:
      'measured: Azure network round-trip latency statistics, P50 over 30 days to 19 June 2024: West US to West Europe 154-155 ms, East US 2 to Japan East 160-163 ms (learn.microsoft.com/azure/networking/azure-network-latency); a 10,000 km great circle is ~100 ms of fibre round trip at c / 1.47, and real routes run ~1.5x longer; the jitter and the 500 Mbit/s are assumed',
  },
  lte: {
    name: 'lte',
    rttMs: 50,
    jitterMs: 8,
    uplinkMbps: 10,
    downlinkMbps: 30,
    source:
      'measured, then rounded: US smartphone users, on LTE 93% of the time, saw latencies of 44.1-66.4 ms (range over states) and 21.3 Mbit/s down and 6.3 up on average (Opensignal, State of Mobile: USA, May 2019, Q1 2019 data); operators median 31-39 ms, mobile median 29 Mbit/s down and 5.7 up (Ookla, Speedtest U.S. market report Q2 2020); commercial LTE fails to hold 50 ms reliably (CMU-CS-22-115). The uplink here (10) is above those averages; the jitter is assumed',
  },
  '5g': {
    name: '5g',
    rttMs: 25,
    jitterMs: 4,
    uplinkMbps: 30,
    downlinkMbps: 150,
    source:
      'measured, then rounded: median 5G download 166 Mbit/s and upload 21 Mbit/s worldwide in Q3 2021 (Ookla, "Growing and slowing: the state of 5G worldwide in 2021"); only 5% of mobile users see minimum latencies under 20 ms and 60% see under 50 Mbit/s (Rizvi, Heidemann, Plonka, "Third-Party Assessment of Mobile Performance in the 5G Era", arXiv:2507.18834, 2025); US median 5G multi-server latency 51 ms or more (Ookla, Q2 2023), which includes paths beyond the access network. The 25 ms round trip (access to a nearby edge) and the jitter are assumed',
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
