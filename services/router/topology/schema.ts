/**
 * The topology file's shape: one zod schema, units in the names, unknown keys rejected
 * everywhere. What spans fields or parts (a node's site and link, token or tokenEnv, the
 * environment) is checked in references.ts, which sees the whole file even when part of
 * it is malformed.
 */
import { z } from 'zod';
import { bearerTokenSchema } from '../../common/http/bind.ts';
import type { Provenance } from '../../energy/types.ts';
import { LINK_PROFILES } from '../../netem/profiles.ts';
import { TIERS } from '../../node/config.ts';
import { ENERGY_UNITS } from './energy-counters.ts';

export const PROVENANCES = [
  'counter',
  'integrated',
  'estimated',
  'assumed',
  'external',
] as const satisfies readonly Provenance[];

/** Milliseconds between two reads of a node's energy. */
export const DEFAULT_ENERGY_INTERVAL_MS = 2000;

// Header-safe, as a node's own name (services/node/config.ts): it travels in x-edgeshift-node.
const NAME = /^[A-Za-z0-9._:@-]{1,128}$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Prometheus data model: metric and label names.
const METRIC_NAME = /^[A-Za-z_:][A-Za-z0-9_:]*$/;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const name = () =>
  z.string().regex(NAME, 'letters, digits and . _ : @ - only, 1 to 128 characters');
const source = () => z.string().trim().min(1, 'say where the figure comes from');
const httpUrl = () =>
  z
    .url({ protocol: /^https?$/, error: 'an http or https URL' })
    // fetch() refuses URLs with credentials: a token goes in `token`.
    .refine(
      (url) => withUrl(url, (u) => u.username === '' && u.password === ''),
      'no credentials in the URL: give a token instead',
    );
/** A base URL: requests append their own paths and queries to it. */
const baseUrl = () =>
  httpUrl().refine(
    (url) => withUrl(url, (u) => u.search === '' && u.hash === ''),
    'a base URL: no query or fragment',
  );

/** `test` of the parsed URL; true for one that does not parse (the format check reports it). */
function withUrl(url: string, test: (parsed: URL) => boolean): boolean {
  return URL.canParse(url) ? test(new URL(url)) : true;
}

const tokenFields = {
  /** Bearer token sent to it; or `tokenEnv`, the environment variable holding one. */
  token: bearerTokenSchema.optional(),
  tokenEnv: z.string().regex(ENV_NAME, 'an environment variable name').optional(),
};

const intervalMs = () =>
  z.number().int().min(500).max(3_600_000).default(DEFAULT_ENERGY_INTERVAL_MS);

const carbonIntensitySchema = z
  .strictObject({
    /** A constant, grams CO2-equivalent per kWh. */
    gco2ePerKwh: z.number().min(0).optional(),
    /** Or an hourly CSV file, relative to the topology file's folder (intensity.ts). */
    series: z.string().min(1).optional(),
    source: source(),
  })
  .superRefine((value, ctx) => {
    if ((value.gco2ePerKwh === undefined) === (value.series === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give gco2ePerKwh or series (exactly one)' });
    }
  });

const siteSchema = z.strictObject({
  carbonIntensity: carbonIntensitySchema,
  /** Facility energy / IT energy. */
  pue: z.strictObject({
    value: z.number().min(1, 'at least 1: facility energy includes the IT energy'),
    source: source(),
  }),
  /** On-site water usage effectiveness: litres per IT kWh. */
  wue: z.strictObject({ litersPerKwh: z.number().min(0), source: source() }),
  /** Water consumed generating a kWh on the site's grid: litres. */
  gridWater: z.strictObject({ litersPerKwh: z.number().min(0), source: source() }),
});

const mbps = () => z.number().positive();

export const LINK_PROFILE_NAMES = Object.keys(LINK_PROFILES) as [string, ...string[]];

/**
 * A link: a named profile (services/netem/profiles.ts) whose figures any given here
 * override, or figures of its own. `edgeshift up` emulates it (services/netem); the
 * router takes its round trip as the prior for a node it has not yet probed.
 */
export const linkSchema = z
  .strictObject({
    profile: z.enum(LINK_PROFILE_NAMES).optional(),
    /** Round trip between the router and the node, ms. */
    rttMs: z.number().min(0).optional(),
    /** Standard deviation of each one-way delay, ms (normal, cut at 3 sd). */
    jitterMs: z.number().min(0).optional(),
    /** Both directions, megabits per second; or each with uplinkMbps (towards the node) and downlinkMbps. */
    bandwidthMbps: mbps().optional(),
    uplinkMbps: mbps().optional(),
    downlinkMbps: mbps().optional(),
    source: source().optional(),
  })
  .superRefine((link, ctx) => {
    const perDirection = link.uplinkMbps !== undefined || link.downlinkMbps !== undefined;
    if (link.bandwidthMbps !== undefined && perDirection) {
      ctx.addIssue({
        code: 'custom',
        path: ['bandwidthMbps'],
        message: 'give bandwidthMbps (both directions) or uplinkMbps and downlinkMbps, not both',
      });
    }
    const figures = ['rttMs', 'jitterMs', 'bandwidthMbps', 'uplinkMbps', 'downlinkMbps'] as const;
    if (link.profile !== undefined) {
      if (link.source === undefined && figures.some((f) => link[f] !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['source'],
          message: `say where the figures that replace the ${link.profile} profile's come from`,
        });
      }
      return;
    }
    const required = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if (link.rttMs === undefined)
      required('rttMs', `required without a profile (profiles: ${LINK_PROFILE_NAMES.join(', ')})`);
    if (link.bandwidthMbps === undefined && !perDirection) {
      required('bandwidthMbps', 'required without a profile, or uplinkMbps and downlinkMbps');
    } else if (perDirection && (link.uplinkMbps === undefined || link.downlinkMbps === undefined)) {
      required(
        link.uplinkMbps === undefined ? 'uplinkMbps' : 'downlinkMbps',
        'give both directions, or bandwidthMbps for both',
      );
    }
    if (link.source === undefined) required('source', 'say where the figures come from');
  });

const energySchema = z.discriminatedUnion('source', [
  /** The node's own GET /energy. */
  z.strictObject({ source: z.literal('edgeshift'), intervalMs: intervalMs() }),
  z.strictObject({
    source: z.literal('prometheus'),
    url: httpUrl(),
    metric: z.string().regex(METRIC_NAME, 'a Prometheus metric name'),
    /** Samples whose labels match all of these are summed. */
    labels: z
      .record(z.string().regex(LABEL_NAME, 'a Prometheus label name'), z.string())
      .optional(),
    /** Default: the known counter's (energy-counters.ts), else J. */
    unit: z.enum(ENERGY_UNITS).optional(),
    /** Default: the known counter's, else `external`. */
    provenance: z.enum(PROVENANCES).optional(),
    ...tokenFields,
    intervalMs: intervalMs(),
  }),
  z.strictObject({ source: z.literal('none') }),
]);

const priorSchema = z
  .strictObject({
    /** Arrival to answer at the node, ms. */
    serviceMs: z.number().min(0).optional(),
    joulesPerInference: z.number().min(0).optional(),
    source: source(),
  })
  .superRefine((value, ctx) => {
    if (value.serviceMs === undefined && value.joulesPerInference === undefined) {
      ctx.addIssue({ code: 'custom', message: 'give serviceMs, joulesPerInference or both' });
    }
  });

const nodeSchema = z.strictObject({
  name: name(),
  tier: z.enum(TIERS),
  /** Base URL of its Open Inference Protocol endpoint. */
  url: baseUrl(),
  ...tokenFields,
  /** A name from `sites`. */
  site: z.string().min(1),
  /** A name from `links` or of a profile, or a link given inline. */
  link: z.union([z.string().min(1), linkSchema], {
    error: `a name from links or of a profile (${LINK_PROFILE_NAMES.join(', ')}), or { rttMs, bandwidthMbps, source }`,
  }),
  energy: energySchema.default({
    source: 'edgeshift',
    intervalMs: DEFAULT_ENERGY_INTERVAL_MS,
  }),
  /** The models it serves; omitted: whatever it answers for. */
  models: z.array(z.string().min(1)).min(1).optional(),
  /** Per model name, or `*` for the rest. */
  priors: z.record(z.string().min(1), priorSchema).optional(),
});

export const topologyFileSchema = z.strictObject({
  sites: z.record(name(), siteSchema),
  links: z.record(name(), linkSchema).nullish(),
  nodes: z.array(nodeSchema).min(1, 'at least one node'),
});

export type TopologyFile = z.output<typeof topologyFileSchema>;
export type NodeEntry = TopologyFile['nodes'][number];
export type SiteEntry = TopologyFile['sites'][string];
export type EnergyEntry = NodeEntry['energy'];
