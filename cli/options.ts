/**
 * Flags: parsers for numeric values (a wrong value is a usage error commander reports as
 * such), and defaults shown in --help from the option schema that applies them.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { resolveNodeConfig } from '../services/node/config.ts';

/** Every node option's default, from the node's option schema (services/node/config.ts). */
export const NODE_DEFAULTS = resolveNodeConfig({});

/** Where a node listens by default: what `infer --url` points at unless told otherwise. */
export const DEFAULT_NODE_URL = `http://${NODE_DEFAULTS.host}:${NODE_DEFAULTS.port}`;

export const integer = (flag: string) => (value: string) => {
  if (!/^\d+$/.test(value)) {
    throw new InvalidArgumentError(`${flag} expects a non-negative integer, got "${value}"`);
  }
  return Number.parseInt(value, 10);
};

export const positiveInteger = (flag: string) => (value: string) => {
  const n = integer(flag)(value);
  if (n < 1) throw new InvalidArgumentError(`${flag} expects a positive integer, got "${value}"`);
  return n;
};

export const number = (flag: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`${flag} expects a non-negative number, got "${value}"`);
  }
  return n;
};

/**
 * Appends each option's default to its help, read from the node's option schema
 * (services/node/config.ts) so the help cannot drift from what the node does. An
 * option's default is the config field of the same name (--max-batch: maxBatch).
 */
export function showConfigDefaults(command: Command): void {
  const defaults: Record<string, unknown> = { ...NODE_DEFAULTS };
  for (const option of command.options) {
    const key = option.attributeName() === 'model' ? 'models' : option.attributeName();
    const value = defaults[key];
    const shown = Array.isArray(value) ? value.join(', ') : value;
    // A default derived from another option says so in the description itself.
    if (option.description.includes('(default:')) continue;
    if (typeof shown === 'string' || typeof shown === 'number') {
      option.description = `${option.description} (default: ${shown})`;
    }
  }
}
