/**
 * Metrics pages as three exporters print them, hand-written in their formats (no GPU or
 * Kubernetes node here to capture them from), with the energy counters as parameters
 * so a test can advance them between scrapes:
 *
 * - Triton Inference Server's :8002/metrics (prometheus-cpp): per-model counters, GPU
 *   gauges and `nv_energy_consumption{gpu_uuid}` in joules since Triton started, values
 *   printed with six decimals as Triton prints its GPU metrics, a latency summary.
 * - NVIDIA DCGM exporter's :9400/metrics: `DCGM_FI_*` fields with the exporter's label
 *   order (gpu, UUID, pci_bus_id, device, modelName, Hostname, driver version; pod
 *   labels when it maps GPUs to pods), the energy counter in millijoules since boot.
 * - Kepler 0.10's :28282/metrics (client_golang): labels sorted by name, values in Go's
 *   shortest form (`1.2483917e+06`), node and container CPU joules per RAPL zone, and
 *   the Go runtime's summary.
 */

export const H200_UUIDS = [
  'GPU-4f1c9a2e-7b3d-2e61-a8c0-91d5e2b7f043',
  'GPU-b83e0d51-29fa-6c47-13e9-5a7c0f8d6e21',
] as const;

const f6 = (n: number) => n.toFixed(6);

/** Triton on two H200s: `joules` per GPU since Triton started. */
export function tritonMetrics(joules: readonly [number, number], inferences = 1024): string {
  return `# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="resnet50",version="1"} ${inferences}
# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="resnet50",reason="OTHER",version="1"} 0
nv_inference_request_failure{model="resnet50",reason="BACKEND",version="1"} 0
# HELP nv_inference_count Number of inferences performed (does not include cached requests)
# TYPE nv_inference_count counter
nv_inference_count{model="resnet50",version="1"} ${inferences}
# HELP nv_inference_exec_count Number of model executions performed (does not include cached requests)
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="resnet50",version="1"} ${inferences / 4}
# HELP nv_inference_request_duration_us Cumulative inference request duration in microseconds (includes cached requests)
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{model="resnet50",version="1"} ${inferences * 4738}
# HELP nv_inference_request_summary_us Summary of inference request duration in microseconds (includes cached requests)
# TYPE nv_inference_request_summary_us summary
nv_inference_request_summary_us_count{model="resnet50",version="1"} ${inferences}
nv_inference_request_summary_us_sum{model="resnet50",version="1"} ${inferences * 4738}
nv_inference_request_summary_us{model="resnet50",version="1",quantile="0.5"} 4512
nv_inference_request_summary_us{model="resnet50",version="1",quantile="0.9"} 6120
nv_inference_request_summary_us{model="resnet50",version="1",quantile="0.99"} 9877
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="${H200_UUIDS[0]}"} 0.420000
nv_gpu_utilization{gpu_uuid="${H200_UUIDS[1]}"} 0.000000
# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes
# TYPE nv_gpu_memory_total_bytes gauge
nv_gpu_memory_total_bytes{gpu_uuid="${H200_UUIDS[0]}"} 150754820096.000000
nv_gpu_memory_total_bytes{gpu_uuid="${H200_UUIDS[1]}"} 150754820096.000000
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="${H200_UUIDS[0]}"} 2818572288.000000
nv_gpu_memory_used_bytes{gpu_uuid="${H200_UUIDS[1]}"} 566231040.000000
# HELP nv_gpu_power_usage GPU power usage in watts
# TYPE nv_gpu_power_usage gauge
nv_gpu_power_usage{gpu_uuid="${H200_UUIDS[0]}"} 172.345000
nv_gpu_power_usage{gpu_uuid="${H200_UUIDS[1]}"} 78.912000
# HELP nv_gpu_power_limit GPU power management limit in watts
# TYPE nv_gpu_power_limit gauge
nv_gpu_power_limit{gpu_uuid="${H200_UUIDS[0]}"} 700.000000
nv_gpu_power_limit{gpu_uuid="${H200_UUIDS[1]}"} 700.000000
# HELP nv_energy_consumption GPU energy consumption in joules since the Triton Server started
# TYPE nv_energy_consumption counter
nv_energy_consumption{gpu_uuid="${H200_UUIDS[0]}"} ${f6(joules[0])}
nv_energy_consumption{gpu_uuid="${H200_UUIDS[1]}"} ${f6(joules[1])}
# HELP nv_cpu_utilization CPU utilization rate [0.0 - 1.0]
# TYPE nv_cpu_utilization gauge
nv_cpu_utilization 0.052000
# HELP nv_cpu_memory_total_bytes CPU total memory (RAM), in bytes
# TYPE nv_cpu_memory_total_bytes gauge
nv_cpu_memory_total_bytes 2113692848128.000000
# HELP nv_cpu_memory_used_bytes CPU used memory (RAM), in bytes
# TYPE nv_cpu_memory_used_bytes gauge
nv_cpu_memory_used_bytes 98414129152.000000
`;
}

const DCGM_GPUS = [
  `gpu="0",UUID="${H200_UUIDS[0]}",pci_bus_id="00000000:19:00.0",device="nvidia0",modelName="NVIDIA H200",Hostname="gpu-node-3",DCGM_FI_DRIVER_VERSION="580.105.08"`,
  `gpu="1",UUID="${H200_UUIDS[1]}",pci_bus_id="00000000:3B:00.0",device="nvidia1",modelName="NVIDIA H200",Hostname="gpu-node-3",DCGM_FI_DRIVER_VERSION="580.105.08",container="triton",namespace="inference",pod="triton-7d9f6c5b8-x2kqp"`,
];

/** DCGM exporter on the same two H200s: `millijoules` per GPU since boot. */
export function dcgmMetrics(millijoules: readonly [number, number]): string {
  const each = (values: readonly (string | number)[]) =>
    DCGM_GPUS.map((labels, i) => `{${labels}} ${values[i]}`);
  const field = (name: string, help: string, type: string, values: readonly (string | number)[]) =>
    [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      ...each(values).map((s) => `${name}${s}`),
    ].join('\n');
  return `${[
    field('DCGM_FI_DEV_SM_CLOCK', 'SM clock frequency (in MHz).', 'gauge', [1980, 345]),
    field('DCGM_FI_DEV_MEM_CLOCK', 'Memory clock frequency (in MHz).', 'gauge', [2619, 2619]),
    field('DCGM_FI_DEV_GPU_TEMP', 'GPU temperature (in C).', 'gauge', [47, 31]),
    field('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W).', 'gauge', ['172.345000', '78.912000']),
    field(
      'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
      'Total energy consumption since boot (in mJ).',
      'counter',
      millijoules,
    ),
    field('DCGM_FI_DEV_PCIE_REPLAY_COUNTER', 'Total number of PCIe retries.', 'counter', [0, 0]),
    field('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', 'gauge', [42, 0]),
    field('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).', 'gauge', [2688, 540]),
    field('DCGM_FI_DEV_XID_ERRORS', 'Value of the last XID error encountered.', 'gauge', [0, 0]),
  ].join('\n')}\n`;
}

/** Go's shortest `%g` as client_golang prints floats: an exponent from 1e6 up, e.g. 1.2483917e+06. */
const g = (n: number): string => {
  const s = String(n);
  if (Math.abs(n) < 1e6 || s.includes('e')) return s;
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
  const e = Number(exponent);
  return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
};

export interface KeplerJoules {
  package: number;
  dram: number;
  /** The `triton` container's share of the package and DRAM. */
  tritonPackage: number;
  tritonDram: number;
}

/** Kepler 0.10 on a one-socket edge node running a Triton container and Prometheus. */
export function keplerMetrics(j: KeplerJoules): string {
  const node = 'node_name="edge-1"';
  const triton =
    'container_id="6f3a9c0e2b7d41f58a9e3c1d0b2f4e6a8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f",container_name="triton"';
  const prom =
    'container_id="0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f6f3a9c0e2b7d41f58a9e3c1d0b2f4e6a8c",container_name="prometheus"';
  const pod = (id: string) => `pod_id="${id}",runtime="containerd",state="running"`;
  return `# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.3541e-05
go_gc_duration_seconds{quantile="0.25"} 4.1207e-05
go_gc_duration_seconds{quantile="0.5"} 5.8833e-05
go_gc_duration_seconds{quantile="0.75"} 8.0112e-05
go_gc_duration_seconds{quantile="1"} 0.000412876
go_gc_duration_seconds_sum 0.012398452
go_gc_duration_seconds_count 142
# HELP kepler_build_info A metric with a constant '1' value labeled with version information
# TYPE kepler_build_info gauge
kepler_build_info{arch="amd64",branch="",goversion="go1.24.2",revision="4a1b2c3",version="v0.10.2"} 1
# HELP kepler_container_cpu_joules_total Energy consumption of cpu at container level in joules
# TYPE kepler_container_cpu_joules_total counter
kepler_container_cpu_joules_total{${triton},${node},${pod('3c1d0b2f-4e6a-8c0d-2e4f-6a8b0c2d4e6f')},zone="dram"} ${g(j.tritonDram)}
kepler_container_cpu_joules_total{${triton},${node},${pod('3c1d0b2f-4e6a-8c0d-2e4f-6a8b0c2d4e6f')},zone="package"} ${g(j.tritonPackage)}
kepler_container_cpu_joules_total{${prom},${node},${pod('9e3c1d0b-2f4e-6a8c-0d2e-4f6a8b0c2d4e')},zone="dram"} 812.4417
kepler_container_cpu_joules_total{${prom},${node},${pod('9e3c1d0b-2f4e-6a8c-0d2e-4f6a8b0c2d4e')},zone="package"} 9517.0283
# HELP kepler_node_cpu_joules_total Energy consumption of cpu at node level in joules
# TYPE kepler_node_cpu_joules_total counter
kepler_node_cpu_joules_total{${node},path="/sys/class/powercap/intel-rapl:0",zone="package"} ${g(j.package)}
kepler_node_cpu_joules_total{${node},path="/sys/class/powercap/intel-rapl:0:0",zone="core"} ${g(j.package * 0.6)}
kepler_node_cpu_joules_total{${node},path="/sys/class/powercap/intel-rapl:0:1",zone="dram"} ${g(j.dram)}
# HELP kepler_node_cpu_watts Power consumption of cpu at node level in watts
# TYPE kepler_node_cpu_watts gauge
kepler_node_cpu_watts{${node},path="/sys/class/powercap/intel-rapl:0",zone="package"} 41.87
kepler_node_cpu_watts{${node},path="/sys/class/powercap/intel-rapl:0:0",zone="core"} 25.3
kepler_node_cpu_watts{${node},path="/sys/class/powercap/intel-rapl:0:1",zone="dram"} 3.12
# HELP kepler_node_cpu_usage_ratio CPU usage ratio of a node (value between 0.0 and 1.0)
# TYPE kepler_node_cpu_usage_ratio gauge
kepler_node_cpu_usage_ratio{${node}} 0.3171
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.76415484e+09
`;
}
