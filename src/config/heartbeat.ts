import { parseDuration } from "./duration.ts";
import type { LocationConfig, ProbeConfig } from "./schema.ts";

/** The fail_after and recover_after a probe has when they are not written (schema.ts). */
const HYSTERESIS_DEFAULT = 2;

/**
 * A heartbeat check (probes/heartbeat.ts) is judged by the control plane from
 * the pings it gets, not run by agents, so it lives at one location: the one
 * named, or else the first location that is not remote (a remote one's
 * silence would leave its results out of quorum). Quorum is 1, `interval` is
 * its `every`, and one missed deadline fails it and one ping brings it back:
 * its grace is its hysteresis, so fail_after and recover_after do not apply.
 */
export function heartbeatProbe(probe: ProbeConfig, at: string, ctx: { locations: LocationConfig[]; problems: string[] }): ProbeConfig {
  const fallback = (ctx.locations.find((l) => !l.remote) ?? ctx.locations[0])?.id;
  if (probe.locations !== "all" && probe.locations.length > 1) {
    ctx.problems.push(`${at}.locations: a heartbeat check is judged at one location (its pings come to the control plane, not from agents); name one, or leave locations out for ${fallback ? `"${fallback}"` : "the first"}`);
  }
  if (probe.fail_after !== HYSTERESIS_DEFAULT) {
    ctx.problems.push(`${at}.fail_after: does not apply to a heartbeat check: one missed deadline (every + grace) fails it; give the job more time with with.grace`);
  }
  if (probe.recover_after !== HYSTERESIS_DEFAULT) ctx.problems.push(`${at}.recover_after: does not apply to a heartbeat check: one ping brings it back`);
  const location = probe.locations === "all" ? fallback : probe.locations[0];
  const every = parseDuration(probe.with.every);
  return { ...probe, locations: location ? [location] : [], quorum: 1, fail_after: 1, recover_after: 1, interval: every ?? probe.interval };
}
