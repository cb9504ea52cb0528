/**
 * The few file operations the sysfs and procfs readers need, behind an interface so
 * tests can point them at a temporary tree or make a file unreadable (tests run as root
 * here, and root reads a mode-0400 file anyway).
 *
 * Counters read ten times a second are kept open and re-read from offset 0 (sysfs
 * attributes and /proc/stat regenerate their contents on every read at offset 0): one
 * pread instead of open, fstat, read and close, which is most of the cost of sampling.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

export interface FileAccess {
  /** The file's text; throws the Node errno error (ENOENT, EACCES...) on failure. */
  readText(path: string): string;
  /** Names in a directory; throws on failure. */
  list(dir: string): string[];
  exists(path: string): boolean;
  /** A reader that keeps the file open between reads (optional: readText is used without it). */
  open?(path: string, maxBytes?: number): FileReader;
}

export interface FileReader {
  /** The file's text now (at most maxBytes of it); throws like readText. */
  read(): string;
  close(): void;
}

class OpenFile implements FileReader {
  private fd: number | null = null;
  private readonly buffer: Buffer;

  constructor(
    private readonly path: string,
    maxBytes: number,
  ) {
    this.buffer = Buffer.allocUnsafe(maxBytes);
  }

  read(): string {
    if (this.fd === null) this.fd = openSync(this.path, 'r');
    try {
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      return this.buffer.toString('utf8', 0, n);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export const nodeFileAccess: FileAccess = {
  readText: (path) => readFileSync(path, 'utf8'),
  list: (dir) => readdirSync(dir),
  exists: (path) => existsSync(path),
  open: (path, maxBytes = 4096) => new OpenFile(path, maxBytes),
};

/** A reader for `path` through `files`: kept open when the access supports it. */
export function openReader(files: FileAccess, path: string, maxBytes = 4096): FileReader {
  if (files.open !== undefined) return files.open(path, maxBytes);
  return { read: () => files.readText(path), close: () => {} };
}
