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
  /** Playbook work: trigger checks, runs, approval timeouts. */
  playbooks: "playbooks",
} as const;

/**
 * Lock settings of the control-plane workers. A worker that dies (SIGKILL,
 * OOM) leaves its job locked; with BullMQ's defaults (30 s lock, a stall check
 * every 30 s) the job waits up to a minute, and every later post of its
 * incident waits behind it. A running job renews its lock every 5 s, so a
 * 10 s lock only expires when its worker is gone. A job may stall three
 * times before BullMQ fails it.
 */
export const WORKER_LOCK = { lockDuration: 10_000, stalledInterval: 5_000, maxStalledCount: 3 } as const;

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
  /** Older than its probe's interval when it arrived (a remote agent's buffer): kept for history, not for the current status. */
  late?: boolean;
}

/** Work for the incident lifecycle, by job name: `transition`, `quiet`, `recheck` or `publish`. */
export type IncidentJob =
  /** A component changed status. */
  | { transition: ComponentTransition }
  /** The quiet period after recovery is over: resolve, unless it relapsed since `monitoringAt`. */
  | { quiet: { incident: string; monitoringAt: string } }
  /** A maintenance window ended: open or join an incident if the component is still unwell. */
  | { recheck: { component: string; at: string } }
  /** A draft's review timeout is over: publish it, unless someone did or it resolved meanwhile. */
  | { publish: { incident: string } };

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
  /**
   * A playbook's own post (an approval request, a notify step, an escalation):
   * not one of the incident's timeline entries, so outside their order (seq 0).
   */
  direct?: boolean;
}

/** Playbook work, by job name: `check` (a component changed: look at the triggers now), `run`, `expire`. */
export type PlaybookJob =
  /** A component changed status; the incident it went to, if any. */
  | { check: { component: string; incident?: string; at: string } }
  /** Execute (or continue) a run. */
  | { run: string }
  /** An approval's time is up: expire the run unless it was decided. */
  | { expire: string };
