/**
 * Appends record lines to a run's records.jsonl as they happen, one write per line
 * straight to the file (no buffer of ours in between), so a run that is killed loses
 * nothing it had measured: what was written is in the kernel's hands.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { RecordLine } from './records.ts';

export class RecordWriter {
  private fd: number | null;
  private lines = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'a');
  }

  write(line: RecordLine): void {
    if (this.fd === null) throw new Error(`records file ${this.file} is already closed`);
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
    this.lines++;
  }

  get written(): number {
    return this.lines;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
