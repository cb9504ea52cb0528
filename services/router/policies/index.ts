/**
 * Policies by name, and loading one from a module: `energy`, `static:edge`, or
 * `./my-policy.ts` (a module exporting `createPolicy: PolicyFactory`, types.ts).
 * Adding a built-in: one file in this folder and one line in BUILT_IN (builtin.ts).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EdgeshiftError } from '../../common/errors.ts';
import type { Policy, PolicyFactory } from '../types.ts';
import { builtInPolicy, checkPolicy } from './builtin.ts';

export { BUILT_IN, builtInPolicy, POLICY_NAMES } from './builtin.ts';

function isModulePath(spec: string): boolean {
  return /\.(m?[jt]s)$/.test(spec) || spec.startsWith('.') || isAbsolute(spec);
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
  return builtInPolicy(spec);
}
