/**
 * Every default of the energy service, in one place, with where it comes from. The
 * options schema (options.ts) resolves a config against these once; the meters fall
 * back to them when built on their own (tests, benchmarks).
 */
export const ENERGY_DEFAULTS = Object.freeze({
  /** The kernel's powercap class directory (Documentation/power/powercap/powercap.rst). */
  powercapRoot: '/sys/class/powercap',
  /** Where procfs is mounted (proc(5)). */
  procRoot: '/proc',
  nvidiaSmi: Object.freeze({
    /** Looked up on PATH, where the NVIDIA driver installs it. */
    path: 'nvidia-smi',
    /**
     * `-lms` period: the period of the H200 captures behind docs/energy.md, where
     * integrated `power.draw.instant` came within 0.3% of NVML's energy counter.
     */
    periodMs: 100,
    /** First restart delay when nvidia-smi dies; doubles while it keeps dying (up to 30 s). */
    restartDelayMs: 1000,
    /** How long start() waits for every GPU's first sample: 50 periods. */
    firstSampleTimeoutMs: 5000,
    /** The detection query; nvidia-smi answers in well under a second when the driver is up. */
    detectTimeoutMs: 10_000,
    /**
     * Between SIGTERM and SIGKILL when nvidia-smi is stopped. Assumed: it has nothing to
     * flush and exits within milliseconds of SIGTERM; 2 s leaves room on a loaded machine
     * and keeps a shutdown well inside the 10 s `docker stop` waits before its own SIGKILL.
     */
    stopGraceMs: 2000,
    /** Samples kept per GPU for reading past moments: a minute at 10 Hz. */
    history: 600,
  }),
  external: Object.freeze({
    /** A bare number from an instrument means watts (smart plugs report power). */
    kind: 'watts' as const,
    domain: 'wall',
    pollMs: 1000,
    /** Per read: a plug or meter on the LAN answers in well under this. */
    timeoutMs: 5000,
    /** Between SIGTERM and SIGKILL for a command that overran or is stopped (as nvidia-smi's). */
    stopGraceMs: 2000,
  }),
  /**
   * The monitor's poll period; never longer than a RAPL counter's wrap bound (131 s for
   * Intel's 262 kJ range at 1 kW, see rapl.ts).
   */
  pollMs: 1000,
  window: Object.freeze({
    /**
     * A window must last this many update periods of each meter: an edge can be off by
     * up to one period, so 10 keeps that error near 10% or less (zeus flags windows short
     * against a counter's update period the same way).
     */
    minUpdatePeriods: 10,
    onShortWindow: 'warn' as const,
  }),
  idle: Object.freeze({
    durationMs: 5000,
    /** Sub-intervals, for the spread of the idle power. */
    intervals: 5,
  }),
  /**
   * CPU-time attribution intervals: /proc/stat and /proc/<pid>/stat count in 10 ms ticks
   * (USER_HZ, proc(5)), so shares over 1 s are within about 1%.
   */
  attributionIntervalMs: 1000,
  agent: Object.freeze({
    /** The agent's port: next to the router (8000) and the three tiers (8001-8003). */
    port: 8009,
    host: '127.0.0.1',
    /**
     * How long a node waits for the agent: far under Prometheus' default scrape timeout
     * (10 s), so a scrape of a node whose agent is gone still answers.
     */
    timeoutMs: 2000,
    /** Processes one agent attributes at once (bounds its memory and work per poll). */
    maxProcesses: 256,
    /** Largest snapshot a node accepts from the agent. */
    maxSnapshotBytes: 4 * 1024 * 1024,
  }),
});
