import type { Config, ResolvedProbe } from "../config/index.ts";
import { NotFoundError, ValidationError } from "../core/index.ts";
import { LocationReports, type LocationReport } from "../pipeline/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import type { LocationFlag, ProbeLocationState, StatusContext } from "../status/index.ts";

/**
 * What the admin API (GET /admin/api/probes, /locations, POST …/run) and the
 * console's probes pages both read and check, so the two say the same.
 */

/** A probe with its last result per location, as GET /admin/api/probes lists it. */
export interface ProbeSummary {
  id: string;
  name: string;
  kind: string;
  interval_ms: number;
  timeout_ms: number;
  components: string[];
  enabled: boolean;
  paused: boolean;
  locations: { location: string; state: ProbeLocationState["state"] | null; last_result: ProbeResult | null }[];
}

/** A location with its reporting state and the flag it has when every probe there fails at once. */
export type LocationSummary = LocationReport & { flag: LocationFlag | null };

/** The configured probe `id`, or a NotFoundError. */
export function probeOf(config: Config, id: string): ResolvedProbe {
  const probe = config.probes.find((p) => p.id === id);
  if (!probe) throw new NotFoundError(`probe ${id}`);
  return probe;
}

/** One probe's summary (`paused`: the paused probes' ids, read once for a list). */
export async function probeSummary(status: StatusContext, probe: ResolvedProbe, paused: ReadonlySet<string>): Promise<ProbeSummary> {
  const [last, states] = await Promise.all([status.store.lastResults(probe.id, probe.locations), status.store.probeStates(probe.id)]);
  return {
    id: probe.id,
    name: probe.name,
    kind: probe.kind,
    interval_ms: probe.interval,
    timeout_ms: probe.timeout,
    components: probe.components,
    enabled: probe.enabled,
    paused: paused.has(probe.id),
    locations: probe.locations.map((location) => ({ location, state: states.get(location)?.state ?? null, last_result: last.get(location) ?? null })),
  };
}

/** Every configured probe's summary, in config order. */
export async function probeSummaries(config: Config, status: StatusContext): Promise<ProbeSummary[]> {
  const paused = await status.store.pausedProbes();
  return Promise.all(config.probes.map((probe) => probeSummary(status, probe, paused)));
}

/**
 * The location a run-now goes to: the one asked for, which must be one the
 * probe runs from, or its first. A ValidationError names `location`.
 */
export function runLocationOf(probe: ResolvedProbe, asked: unknown): string {
  if (asked === undefined) return probe.locations[0]!;
  const location = String(asked);
  if (!probe.locations.includes(location)) throw new ValidationError([`location: ${probe.id} does not run from ${quoted(location)} (it runs from ${probe.locations.join(", ")})`]);
  return location;
}

/** A value as a refusal quotes it: short, so a 1 MiB mistake is named in a line, not sent back. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** Each configured location with its agents, last push, results per minute, reporting state and flag. */
export async function locationSummaries(config: Config, status: StatusContext): Promise<{ locations: LocationSummary[]; flags: Map<string, LocationFlag> }> {
  const [locations, flags] = await Promise.all([new LocationReports(status.store.redis, config.redis.prefix).list(config), status.store.locationFlags()]);
  return { locations: locations.map((l) => ({ ...l, flag: flags.get(l.id) ?? null })), flags };
}
