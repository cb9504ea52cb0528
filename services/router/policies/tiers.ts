/**
 * The tiers a `static:<tier>` policy may name, without importing the node's config module
 * (which reads files): policies stay importable by the device page. The type check below
 * fails to compile if this list and services/node/config.ts's TIERS ever differ.
 */
import type { Tier } from '../../node/config.ts';

export const POLICY_TIERS = ['hyperscale', 'edge', 'device'] as const satisfies readonly Tier[];

type Missing = Exclude<Tier, (typeof POLICY_TIERS)[number]>;
const everyTier: [Missing] extends [never] ? true : false = true;
void everyTier;
