/**
 * Policies by name, and loading one from a module: `energy`, `static:edge`, or
 * `./my-policy.ts` (a module exporting `createPolicy: PolicyFactory`, types.ts).
 * Adding a built-in: one file in this folder and one line in BUILT_IN.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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

function isModulePath(spec: string): boolean {
  return /\.(m?[jt]s)$/.test(spec) || spec.startsWith('.') || isAbsolute(spec);
}

function checkPolicy(value: unknown, spec: string): Policy {
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
 * The policy a spec names.
 *
 * @example
 * const policy = await loadPolicy('static:edge');
 * const custom = await loadPolicy('./policies/slowest.ts');
 */
export async function loadPolicy(spec: string, cwd = process.cwd()): Promise<Policy> {
  if (isModulePath(spec)) {
    let module: { createPolicy?: unknown };
    try {
      module = (await import(pathToFileURL(resolve(cwd, spec)).href)) as typeof module;
    } catch (cause) {
      throw new EdgeshiftError('ES_CONFIG', `cannot load policy module ${spec}: ${String(cause)}`, {
        cause,
      });
    }
    if (typeof module.createPolicy !== 'function') {
      throw new EdgeshiftError(
        'ES_CONFIG',
        `policy module ${spec} exports no createPolicy function`,
      );
    }
    return checkPolicy((module.createPolicy as PolicyFactory)(''), spec);
  }
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
