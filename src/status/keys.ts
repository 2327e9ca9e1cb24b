/**
 * Every Redis key the status room writes, under one prefix, so that several
 * Pulseboards (or several tests) can share a Redis without meeting.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  /** Hash: component id → ComponentState JSON. */
  get components(): string {
    return `${this.prefix}:components`;
  }
  /** Stream of ComponentTransition entries for one component. */
  componentHistory(component: string): string {
    return `${this.prefix}:component-history:${component}`;
  }
  /** Latest ProbeResult JSON of a probe at a location. */
  lastResult(probe: string, location: string): string {
    return `${this.prefix}:result:last:${probe}:${location}`;
  }
  /** List of recent ProbeResult JSON, newest first. */
  results(probe: string, location: string): string {
    return `${this.prefix}:results:${probe}:${location}`;
  }
  /** Hash: location → ProbeLocationState JSON; field `_probe` holds the aggregate. */
  probeState(probe: string): string {
    return `${this.prefix}:probe-state:${probe}`;
  }
  /** Incident JSON document. */
  incident(id: string): string {
    return `${this.prefix}:incident:${id}`;
  }
  /** Sorted set of incident ids by creation time. */
  get incidents(): string {
    return `${this.prefix}:incidents`;
  }
  /** Set of unresolved incident ids. */
  get unresolved(): string {
    return `${this.prefix}:incidents:unresolved`;
  }
  /** Sorted set of draft incident ids (automatic ones waiting for review) by creation time: never read by a public surface. */
  get drafts(): string {
    return `${this.prefix}:incidents:drafts`;
  }
  /** Id of the open automatic incident, if any. */
  get automaticIncident(): string {
    return `${this.prefix}:incidents:automatic`;
  }
  /** Marker that an idempotent write already happened. */
  idempotency(key: string): string {
    return `${this.prefix}:done:${key}`;
  }
  /** Hash of per-minute rollups of one probe at one location, one key per UTC day. */
  minuteRollup(probe: string, location: string, epochDay: number): string {
    return `${this.prefix}:rollup:m:${probe}:${location}:${epochDay}`;
  }
  /** Hash of per-hour rollups of one probe at one location, one key per 32-day block. */
  hourRollup(probe: string, location: string, block: number): string {
    return `${this.prefix}:rollup:h:${probe}:${location}:${block}`;
  }
  /** Prefix of a component's uptime keys (one hash per 32-day block: `<day>:<status>` → ms). */
  uptimePrefix(component: string): string {
    return `${this.prefix}:uptime:${component}:`;
  }
  /** Hash: component id → `<status>|<since ms>`, the status customers see and since when. */
  get effective(): string {
    return `${this.prefix}:effective`;
  }
  /** Sorted set of history keys by the time they may be deleted (the retention job reads it). */
  get retention(): string {
    return `${this.prefix}:retention`;
  }
  /** Set of probe ids paused by a person. */
  get pausedProbes(): string {
    return `${this.prefix}:probes:paused`;
  }
  /** Stream of timeline entries to announce to on-call channels (the notification outbox). */
  get outbox(): string {
    return `${this.prefix}:outbox`;
  }
  /** Stream of changes of components' effective status, to announce to status-page subscribers. */
  get componentOutbox(): string {
    return `${this.prefix}:outbox:components`;
  }
  /** Stream of notices about maintenance windows (reminders, start, completion), to announce to subscribers and on-call channels. */
  get maintenanceOutbox(): string {
    return `${this.prefix}:outbox:maintenance`;
  }
  /** Marker that a window's reminder for one start time went out (an edit that moves the window gets a new one). */
  maintenanceReminder(id: string, scheduledFor: string): string {
    return this.idempotency(`maintenance-reminder:${id}:${scheduledFor}`);
  }
  /** Maintenance window JSON document. */
  maintenance(id: string): string {
    return `${this.prefix}:maintenance:${id}`;
  }
  /** Sorted set of maintenance ids by scheduled start. */
  get maintenances(): string {
    return `${this.prefix}:maintenances`;
  }
  /** Set of maintenance ids not yet completed. */
  get maintenancesOpen(): string {
    return `${this.prefix}:maintenances:open`;
  }
  /** Hash: component id → flap-suppression state JSON. */
  get flap(): string {
    return `${this.prefix}:flap`;
  }
  /** Hash: location id → flag JSON for a location whose every probe fails at once. */
  get locationFlags(): string {
    return `${this.prefix}:locations:flags`;
  }
  /** Pub/sub channel announcing changes to the page. */
  get events(): string {
    return `${this.prefix}:events`;
  }
}
