/**
 * How many intra-op threads a node's onnxruntime sessions get, chosen from the machine
 * unless the operator says otherwise, and why: the answer is shown in the model's
 * `/config` (Triton's `intra_op_thread_count`) and in `/stats`.
 *
 * The node's share of the machine is its CPUs (what the process may run on) divided by
 * the tiers that run on it. One core of that share is left to the event loop, which
 * reads, decodes, batches and answers while the session computes; the rest goes to
 * onnxruntime's intra-op pool, at least one thread. Measured on the 2-core VM
 * (docs/node.md, Threads): onnxruntime's own default, a thread per core, took twice the
 * CPU per request at one connection (1,239 vs 592 µs) and a p99 of 16-39 ms instead of
 * about 4 ms next to the event loop, with no throughput gain.
 */
import os from 'node:os';
import type { SessionMode } from '../config.ts';

export interface ThreadPlanInput {
  /** CPUs this process may use (os.availableParallelism(): affinity and cgroup-aware). */
  cpus: number;
  /** Tiers (nodes) sharing those CPUs, this one included. */
  tiersOnMachine: number;
  sessionMode: SessionMode;
  /** The operator's choice: 0 lets onnxruntime choose; undefined chooses from the machine. */
  requested: number | undefined;
}

export interface ThreadPlan {
  /** intraOpNumThreads as passed to onnxruntime; 0 means onnxruntime's own default. */
  intraOpThreads: number;
  /** Why, in words, for `/stats` and the startup line. */
  reason: string;
}

export function planThreads(input: ThreadPlanInput): ThreadPlan {
  if (input.requested !== undefined) {
    return {
      intraOpThreads: input.requested,
      reason:
        input.requested === 0
          ? 'set to 0: onnxruntime chooses (a thread per physical core)'
          : `set to ${input.requested}`,
    };
  }
  const share = Math.max(1, Math.floor(input.cpus / Math.max(1, input.tiersOnMachine)));
  const intraOpThreads = Math.max(1, share - 1);
  const tiers = input.tiersOnMachine === 1 ? '' : ` shared by ${input.tiersOnMachine} tiers`;
  const where =
    input.sessionMode === 'worker'
      ? 'the event loop keeps one'
      : 'the event loop computes inline and keeps one';
  return {
    intraOpThreads,
    reason: `chosen from the machine: ${input.cpus} CPUs${tiers}, a share of ${share}; ${where}`,
  };
}

/** This machine's CPUs as planThreads counts them. */
export function machineCpus(): number {
  return os.availableParallelism();
}
