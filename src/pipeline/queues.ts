import type { ComponentTransition } from "../status/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import type { NotificationEvent } from "../notify/index.ts";

/**
 * Queue names and job shapes: every arrow of the data flow is one of these
 * BullMQ queues, so every stage retries and survives a crash.
 */
export const QUEUE = {
  /** Probe results waiting to be evaluated. */
  evaluate: "evaluate",
  /** Component transitions waiting to open, update or resolve incidents. */
  incidents: "incidents",
  /** One post to one channel each. */
  notify: "notify",
} as const;

/** Each location has its own probe queue, consumed by that location's agents. */
export function probeQueue(location: string): string {
  return `probe-${location}`;
}

/** BullMQ's key prefix under the configured Redis prefix. */
export function bullPrefix(prefix: string): string {
  return `${prefix}:bull`;
}

export interface ProbeJob {
  probe: string;
  location: string;
  /** Asked for by a person ("run now"): runs even when paused or late, and returns the whole result. */
  manual?: boolean;
}

export interface EvaluateJob {
  result: ProbeResult;
}

/** Work for the incident lifecycle, by job name: `transition`, `quiet` or `recheck`. */
export type IncidentJob =
  /** A component changed status. */
  | { transition: ComponentTransition }
  /** The quiet period after recovery is over: resolve, unless it relapsed since `monitoringAt`. */
  | { quiet: { incident: string; monitoringAt: string } }
  /** A maintenance window ended: open or join an incident if the component is still unwell. */
  | { recheck: { component: string; at: string } };

/** One notification to deliver to one channel. */
export interface NotifyJob {
  event: NotificationEvent;
  channel: string;
  /** This post's place in its incident's sequence for this channel. */
  seq: number;
  /** The sequence number that must be delivered (or given up on) first; 0 for none. */
  after: number;
  /** A person replayed it from the dead-letter list: it skips the order and de-dupe checks. */
  replay?: boolean;
}
