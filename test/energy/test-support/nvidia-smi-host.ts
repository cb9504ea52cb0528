/**
 * A process that runs one nvidia-smi meter and closes it on SIGTERM / SIGINT with the
 * CLI's own signal handlers (a second signal exits at once with 130), for the test of
 * what a second Ctrl-C leaves behind. Prints `{"state": ..., "pid": <nvidia-smi pid>}`
 * once the meter works.
 *
 *   node --import tsx nvidia-smi-host.ts <nvidia-smi path> <stopGraceMs>
 */
import { installSignalHandlers } from '../../../services/common/http/signals.ts';
import { NvidiaSmiMeter } from '../../../services/energy/nvidia-smi.ts';

const [path, grace] = process.argv.slice(2);
const meter = new NvidiaSmiMeter({ path: path!, stopGraceMs: Number(grace), clockOffsetMs: 0 });
const status = await meter.start();
installSignalHandlers({ close: () => meter.stop() });
process.stdout.write(`${JSON.stringify({ state: status.state, pid: meter.samplerPid() })}\n`);
