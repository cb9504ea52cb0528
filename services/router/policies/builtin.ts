/**
 * The built-in policies by name, and making one from its spec (`energy`, `static:edge`).
 * No `node:` module here: the device page (services/device) places its requests with the
 * same code. Loading a policy from a module file is index.ts's.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { Policy, PolicyFactory } from '../types.ts';
import { createPolicy as carbon } from './carbon.ts';
import { createPolicy as energy } from './energy.ts';
import { createPolicy as latency } from './latency.ts';
import { createPolicy as random } from './random.ts';
import { createPolicy as roundRobin } from './round-robin.ts';
import { createPolicy as staticTier } from './static.ts';

export const BUILT_IN: Readonly<Record<string, PolicyFactory>> = {
  latency,
  energy,
  carbon,
  static: staticTier,
  'round-robin': roundRobin,
  random,
};

export const POLICY_NAMES = [
  'latency',
  'energy',
  'carbon',
  'static:<tier>',
  'round-robin',
  'random',
];

export function checkPolicy(value: unknown, spec: string): Policy {
  const p = value as Partial<Policy> | null;
  if (
    typeof p !== 'object' ||
    p === null ||
    typeof p.name !== 'string' ||
    typeof p.budgetAware !== 'boolean' ||
    typeof p.choose !== 'function'
  ) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `policy ${spec}: createPolicy must return { name: string, budgetAware: boolean, choose(candidates, request) }`,
    );
  }
  return p as Policy;
}

/**
 * A built-in policy by its spec.
 *
 * @example
 * const policy = builtInPolicy('static:device');
 */
export function builtInPolicy(spec: string): Policy {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const argument = colon < 0 ? '' : spec.slice(colon + 1);
  const factory = Object.hasOwn(BUILT_IN, name) ? BUILT_IN[name] : undefined;
  if (factory === undefined || (name === 'static') !== colon >= 0) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `unknown policy ${JSON.stringify(spec)}: use one of ${POLICY_NAMES.join(', ')}, or a path to a module exporting createPolicy`,
    );
  }
  return checkPolicy(factory(argument), spec);
}
