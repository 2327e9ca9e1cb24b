import { collectDefaultMetrics, type Registry } from "prom-client";

/**
 * prom-client's default gauges that end in `_total`, a suffix Prometheus
 * keeps for counters (`promtool check metrics` refuses them); the same
 * counts stay, by type, in the gauges of the same name without the suffix.
 */
const TOTAL_GAUGES = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** The process's runtime metrics (CPU, memory, event loop, GC, handles) under `prefix`, in Prometheus's naming. */
export function collectRuntimeMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of TOTAL_GAUGES) registry.removeSingleMetric(`${prefix}${name}`);
}
