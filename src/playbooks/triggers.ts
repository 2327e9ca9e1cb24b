import type { ComponentStatus, GatewayStat, PlaybookTrigger } from "../config/index.ts";
import type { FleetStats } from "../fleet/index.ts";
import { formatDuration } from "../config/index.ts";

/** A trigger's condition as observed now. */
export interface Observation {
  /** Whether the condition holds. */
  active: boolean;
  /** Since when it holds (ms), when known. */
  since?: number;
  /** What was seen, for the run record. */
  observed: Record<string, unknown>;
  /** In words, for posts and the timeline. */
  description: string;
}

const STATUS_WORDS: Record<ComponentStatus, string> = {
  operational: "operational",
  under_maintenance: "under maintenance",
  degraded_performance: "degraded",
  partial_outage: "in partial outage",
  major_outage: "in major outage",
};

/** What the trigger waits for, in words: "Realtime gateway in major outage for 10s". */
export function describeTrigger(trigger: PlaybookTrigger, nameOf: (kind: "component" | "probe", id: string) => string): string {
  const lasting = trigger.forMs > 0 ? ` for ${formatDuration(trigger.forMs)}` : "";
  if (trigger.kind === "component") return `${nameOf("component", trigger.component)} ${STATUS_WORDS[trigger.status]} or worse${lasting}`;
  if (trigger.kind === "probe") return `${nameOf("probe", trigger.probe)} ${trigger.status === "down" ? "failing" : "degraded or failing"}${lasting}`;
  return `gateway ${trigger.stat.replace(/_/g, " ")} ${trigger.above !== undefined ? `above ${trigger.above}` : `below ${trigger.below}`}${lasting}`;
}

/**
 * A gateway stat from the fleet's stats: `connections_ratio` is connections
 * against the sum of the nodes' limits (undefined when a limit is unknown).
 */
export function statValue(stats: FleetStats, stat: GatewayStat): number | undefined {
  switch (stat) {
    case "connections_ratio":
      return stats.limit ? stats.connections / stats.limit : undefined;
    case "connections":
      return stats.connections;
    case "ready_nodes":
      return stats.nodes.filter((n) => n.state === "ready").length;
    case "failing_nodes":
      return stats.nodes.filter((n) => n.state !== "ready" || n.safeguardStuck === true).length;
    case "stuck_nodes":
      return stats.nodes.filter((n) => n.safeguardStuck === true).length;
  }
}

/** Whether a stat value crosses the trigger's bound. */
export function crosses(trigger: Extract<PlaybookTrigger, { kind: "stat" }>, value: number): boolean {
  return trigger.above !== undefined ? value > trigger.above : value < (trigger.below ?? -Infinity);
}

/**
 * Since when at least `quorum` locations have been in a state at least as
 * bad as the threshold: the `quorum`-th earliest such location's `since`.
 */
export function quorumSince(locations: { bad: boolean; since: string }[], quorum: number): number | undefined {
  const times = locations.filter((l) => l.bad).map((l) => Date.parse(l.since)).sort((a, b) => a - b);
  return times.length >= quorum ? times[quorum - 1] : undefined;
}
