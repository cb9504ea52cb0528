/**
 * One part of a topology in a process of its own, started by the shared supervisor
 * (services/common/supervisor.ts). Argument: its PartSpec as JSON. Ready line:
 * `{"url": ..., "pid": ...}`; SIGTERM, SIGINT or the parent going away closes it.
 *
 *   node --import tsx services/up/part-child.ts '{"kind":"node","name":"edge node","options":{"tier":"edge","port":8002}}'
 */
import { serveAsChild } from '../common/supervisor.ts';
import { type PartSpec, servePart } from './parts.ts';

const spec = JSON.parse(process.argv[2] ?? '{}') as PartSpec;
await serveAsChild(() => servePart(spec));
