/**
 * Builds procfs trees in a temporary directory, in the kernel's formats: `stat` with the
 * aggregate `cpu` line and one `cpuN` line per CPU (proc(5)), and `<pid>/stat` with all
 * 52 fields of proc_pid_stat(5) (the layout of a real line, utime, stime and starttime
 * set by the test), so attribution can be checked to the joule without real processes.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeProcess {
  comm?: string;
  /** Field 3 (default S: sleeping). */
  state?: string;
  utimeTicks: number;
  stimeTicks: number;
  /** Field 22, ticks after boot (default 227140). */
  startTicks?: number;
}

export interface ProcTree {
  root: string;
  /** Busy ticks go to `user`; idle ticks to `idle`. */
  setMachine(busyTicks: number, idleTicks: number): Promise<void>;
  setProcess(pid: number, process: FakeProcess): Promise<void>;
  removeProcess(pid: number): Promise<void>;
  remove(): Promise<void>;
}

/** A /proc/<pid>/stat line with every field, as Linux 6.x writes it. */
export function procPidStatLine(pid: number, p: FakeProcess): string {
  const fields = [
    String(pid),
    `(${p.comm ?? 'node'})`,
    p.state ?? 'S',
    '1', // ppid
    String(pid), // pgrp
    String(pid), // session
    '0', // tty_nr
    '-1', // tpgid
    '4194560', // flags
    '100', // minflt
    '0', // cminflt
    '0', // majflt
    '0', // cmajflt
    String(p.utimeTicks), // 14 utime
    String(p.stimeTicks), // 15 stime
    '0', // 16 cutime
    '0', // 17 cstime
    '20', // priority
    '0', // nice
    '11', // num_threads
    '0', // itrealvalue
    String(p.startTicks ?? 227140), // 22 starttime
    '3133440', // vsize
    '377', // rss
    '18446744073709551615', // rsslim
    ...Array.from({ length: 52 - 25 }, () => '0'),
  ];
  return `${fields.join(' ')}\n`;
}

export async function buildProcTree(options: { cpus?: number } = {}): Promise<ProcTree> {
  const root = await mkdtemp(join(tmpdir(), 'edgeshift-proc-'));
  const cpus = options.cpus ?? 2;
  const setMachine = async (busy: number, idle: number): Promise<void> => {
    const per = (n: number) => Math.floor(n / cpus);
    const lines = [`cpu  ${busy} 0 0 ${idle} 0 0 0 0 0 0`];
    for (let i = 0; i < cpus; i++) lines.push(`cpu${i} ${per(busy)} 0 0 ${per(idle)} 0 0 0 0 0 0`);
    lines.push('intr 0', 'ctxt 0', 'btime 1764000000', 'processes 1', 'procs_running 1');
    await writeFile(join(root, 'stat'), `${lines.join('\n')}\n`);
  };
  await setMachine(0, 0);
  await writeFile(join(root, 'cpuinfo'), 'model name\t: Unknown CPU\n');
  return {
    root,
    setMachine,
    async setProcess(pid, p) {
      await mkdir(join(root, String(pid)), { recursive: true });
      await writeFile(join(root, String(pid), 'stat'), procPidStatLine(pid, p));
    },
    removeProcess: (pid) => rm(join(root, String(pid)), { recursive: true, force: true }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
