import { z } from "zod";
import { formatIssues } from "../config/index.ts";
import type { PlatformTargets, Probe, ProbeRegistry } from "../probe-runtime/index.ts";

const probeSchema = z.object({
  id: z.string().min(1).max(120),
  kind: z.string().min(1),
  name: z.string().optional(),
  interval_ms: z.int().positive(),
  timeout_ms: z.int().positive(),
  degraded_over_ms: z.number().nonnegative().optional(),
  with: z.unknown(),
});

/** The answer of GET /api/agent/v1/config, as far as the agent uses it. */
export const remoteConfigSchema = z.object({
  location: z.object({ id: z.string(), name: z.string().optional() }),
  server_time: z.string().optional(),
  poll_ms: z.int().min(100),
  batch_max: z.int().positive(),
  probes: z.array(probeSchema),
  targets: z.object({ gatewayUrl: z.string(), gatewayNodeUrls: z.array(z.string()) }),
});

export type RemoteConfig = z.output<typeof remoteConfigSchema>;
type RemoteProbe = RemoteConfig["probes"][number];

/** A probe ready to run: its kind found and its settings parsed by the kind's schema. */
export interface PreparedProbe {
  id: string;
  kind: Probe;
  intervalMs: number;
  timeoutMs: number;
  degradedOverMs?: number;
  settings: unknown;
  /** Equal for two versions of the probe that run the same way: an unchanged probe keeps its timer. */
  fingerprint: string;
}

/** The probes this agent can run, and one line for each it cannot (unknown kind, settings that do not parse). */
export interface PreparedConfig {
  probes: PreparedProbe[];
  problems: string[];
  targets: PlatformTargets;
}

/**
 * Turns the server's probe list into runnable probes. Settings come as
 * written in pulseboard.yaml and are parsed here with the agent's own kinds,
 * so an agent older or newer than the server says which probe it cannot run
 * and why, and runs the rest.
 */
export function prepareConfig(config: RemoteConfig, registry: ProbeRegistry): PreparedConfig {
  const probes: PreparedProbe[] = [];
  const problems: string[] = [];
  for (const probe of config.probes) {
    const prepared = prepareProbe(probe, registry);
    if (typeof prepared === "string") problems.push(prepared);
    else probes.push(prepared);
  }
  // Nothing secret comes from the server: probes that need the gateway admin token or the cache Redis fail with their own error.
  return { probes, problems, targets: { gatewayUrl: config.targets.gatewayUrl, gatewayNodeUrls: config.targets.gatewayNodeUrls } };
}

function prepareProbe(probe: RemoteProbe, registry: ProbeRegistry): PreparedProbe | string {
  const at = `probe ${probe.id}`;
  const kind = registry.get(probe.kind);
  if (!kind) return `${at}: this agent has no probe kind "${probe.kind}" (it has ${registry.kinds().join(", ")}); not run until the agent is upgraded or the probe changed`;
  const parsed = kind.configSchema.safeParse(probe.with ?? {});
  if (!parsed.success) return `${at}: its settings do not parse for kind ${probe.kind}: ${formatIssues(parsed.error.issues, "with").join("; ")}`;
  if (probe.timeout_ms > probe.interval_ms) return `${at}: timeout_ms ${probe.timeout_ms} is over interval_ms ${probe.interval_ms}`;
  return {
    id: probe.id,
    kind,
    intervalMs: probe.interval_ms,
    timeoutMs: probe.timeout_ms,
    degradedOverMs: probe.degraded_over_ms,
    settings: parsed.data,
    fingerprint: JSON.stringify([probe.kind, probe.interval_ms, probe.timeout_ms, probe.degraded_over_ms ?? null, probe.with ?? null]),
  };
}

/** The issues of a config answer that does not fit the protocol, one line. */
export function describeConfigIssues(error: z.ZodError): string {
  return formatIssues(error.issues).join("; ");
}
