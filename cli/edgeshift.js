#!/usr/bin/env node
// Entry point for the `edgeshift` command: load TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
