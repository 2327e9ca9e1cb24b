import type { ComponentTransition } from "../status/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";

/**
 * Queue names and job shapes: every arrow of the data flow is one of these
 * BullMQ queues, so every stage retries and survives a crash.
 */
export const QUEUE = {
  /** Probe results waiting to be evaluated. */
  evaluate: "evaluate",
  /** Component transitions waiting to open, update or resolve incidents. */
  incidents: "incidents",
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

export interface IncidentJob {
  transition: ComponentTransition;
}
