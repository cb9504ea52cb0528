/**
 * What the netem benchmark's client and its echo server (echo-child.ts) say to each
 * other over TCP, and the byte pattern that makes every transfer checkable.
 *
 * A connection starts with a 9-byte header: a mode byte and a 64-bit big-endian length.
 * - `E` (echo): every byte after the header comes back as it is (the length is unused).
 *   The client sends fixed-size messages and times each one's round trip.
 * - `U` (upload): the client sends `length` bytes of the pattern; the server checks each
 *   byte against it and answers one byte when the last has arrived: 1 if all matched, 0
 *   if not.
 * - `D` (download): the server sends `length` bytes of the pattern, which the client
 *   checks.
 *
 * The pattern is seeded pseudo-random bytes with a period of PATTERN_PERIOD (not a power
 * of two, so a chunk delivered at another offset, twice, or not at all, shows as a
 * mismatch); any window of up to CHUNK bytes is one contiguous slice of `Pattern.block`,
 * so sending and checking cost a memcpy and a memcmp per chunk.
 */
import { mulberry32 } from '../../../services/common/sample-inputs.ts';

export const HEADER_BYTES = 9;
export type Mode = 'E' | 'U' | 'D';
/** Largest slice written or compared at once. */
export const CHUNK = 64 * 1024;
/**
 * A bulk sender keeps writing until this much waits in its socket, then waits for
 * 'drain': waiting after every write past Node's 16 KiB high-water mark would cost an
 * event-loop turn per 64 KiB and cap a direct transfer far below the link's.
 */
export const SEND_AHEAD = 1024 * 1024;
/** 1 MiB + 7 bytes. */
export const PATTERN_PERIOD = 1024 * 1024 + 7;

export function header(mode: Mode, length: number): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.write(mode, 0, 'latin1');
  b.writeBigUInt64BE(BigInt(length), 1);
  return b;
}

export function parseHeader(b: Buffer): { mode: Mode; length: number } | null {
  const mode = String.fromCharCode(b[0]!);
  if (mode !== 'E' && mode !== 'U' && mode !== 'D') return null;
  return { mode, length: Number(b.readBigUInt64BE(1)) };
}

export class Pattern {
  /** PATTERN_PERIOD bytes, then its first CHUNK bytes again. */
  readonly block: Buffer;

  constructor(seed: number) {
    const random = mulberry32(seed);
    this.block = Buffer.alloc(PATTERN_PERIOD + CHUNK);
    for (let i = 0; i < PATTERN_PERIOD; i += 4) {
      const word = Math.floor(random() * 0x1_0000_0000);
      for (let k = 0; k < 4 && i + k < PATTERN_PERIOD; k++)
        this.block[i + k] = (word >>> (8 * k)) & 0xff;
    }
    this.block.copy(this.block, PATTERN_PERIOD, 0, CHUNK);
  }

  /** The pattern's bytes at stream offset `offset`, `length` <= CHUNK of them (a view). */
  slice(offset: number, length: number): Buffer {
    const at = offset % PATTERN_PERIOD;
    return this.block.subarray(at, at + length);
  }

  /** Whether `chunk` is the pattern at stream offset `offset`. */
  matches(chunk: Buffer, offset: number): boolean {
    for (let i = 0; i < chunk.length; i += CHUNK) {
      const n = Math.min(CHUNK, chunk.length - i);
      if (!chunk.subarray(i, i + n).equals(this.slice(offset + i, n))) return false;
    }
    return true;
  }
}
