/**
 * Why a meter cannot measure, as dedicated errors (the way zeus separates "not
 * supported" from "permission denied"): probes throw them, meters turn them into a
 * status with a reason and a fix, and nothing ever turns them into 0 joules.
 */
import type { MeterState, MeterStatus } from './types.ts';

export class MeterUnavailableError extends Error {
  readonly state: Exclude<MeterState, 'working' | 'disabled'>;
  readonly fix: string | null;

  constructor(
    state: Exclude<MeterState, 'working' | 'disabled'>,
    message: string,
    fix: string | null,
  ) {
    super(message);
    this.name = 'MeterUnavailableError';
    this.state = state;
    this.fix = fix;
  }
}

/** The source does not exist here (`absent`) or reports no power (`unsupported`). */
export class MeterNotSupportedError extends MeterUnavailableError {
  constructor(message: string, fix: string | null, state: 'absent' | 'unsupported' = 'absent') {
    super(state, message, fix);
    this.name = 'MeterNotSupportedError';
  }
}

/** The source exists but this user may not read it. */
export class MeterPermissionError extends MeterUnavailableError {
  constructor(message: string, fix: string) {
    super('unreadable', message, fix);
    this.name = 'MeterPermissionError';
  }
}

export function statusFromError(error: unknown, what: string): MeterStatus {
  if (error instanceof MeterUnavailableError) {
    return { state: error.state, reason: error.message, fix: error.fix };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { state: 'error', reason: `${what}: ${message}`, fix: null };
}

/**
 * A failed read in words, for a reason: `EISDIR (illegal operation on a directory)`,
 * or the message of an error without an errno code.
 */
export function describeReadError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = errnoCode(error);
  if (code === undefined) return message;
  // Node's messages read `EACCES: permission denied, open '/path'`.
  const text = message.startsWith(`${code}: `) ? message.slice(code.length + 2).split(',')[0] : '';
  return text ? `${code} (${text})` : code;
}

/** The errno code of a Node file-system error, if any. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
