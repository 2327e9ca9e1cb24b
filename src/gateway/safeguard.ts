/** What the safeguard decided for one new connection. */
export type Admission = { ok: true } | { ok: false; reason: "limit" | "locked"; retryAfterMs: number };

export interface SafeguardHealth {
  limit: number;
  connections: number;
  /** When a new connection was last let in (ISO 8601), or null. */
  last_accepted_at: string | null;
  refusals_total: number;
  refusals_last_minute: number;
  /** Refusing new clients while there is room: the lock-up of the 3.5-hour chat outage. */
  stuck: boolean;
  locked: boolean;
}

const WINDOW_MS = 60_000;
/** A refusal this recent while below the limit means the safeguard is stuck. */
const STUCK_WINDOW_MS = 30_000;
const RETRY_BASE_MS = 1_000;
const RETRY_SPREAD_MS = 4_000;

/**
 * The per-node connection limit. Beyond the limit a new client is refused
 * with a retry hint spread out by jitter, so a surge does not come back all
 * at once. It watches itself: refusing while below the limit is reported as
 * `stuck`, which a probe and a playbook can act on.
 */
export class Safeguard {
  private lastAcceptedAt?: number;
  private refusals = 0;
  private readonly recent: number[] = [];
  private lockedUntil = 0;

  constructor(private readonly limit: number) {}

  admit(connections: number): Admission {
    const now = Date.now();
    if (now < this.lockedUntil) return this.refuse(now, "locked");
    if (connections >= this.limit) return this.refuse(now, "limit");
    this.lastAcceptedAt = now;
    return { ok: true };
  }

  /** Fault injection: refuse every new connection for `ms` (old ones keep working). */
  lock(ms: number): void {
    this.lockedUntil = Date.now() + ms;
  }

  unlock(): void {
    this.lockedUntil = 0;
  }

  health(connections: number): SafeguardHealth {
    const now = Date.now();
    this.trim(now);
    const lastRefusal = this.recent.at(-1);
    const refusingWithRoom = lastRefusal !== undefined && now - lastRefusal < STUCK_WINDOW_MS && connections < this.limit * 0.9;
    const acceptedSince = this.lastAcceptedAt !== undefined && lastRefusal !== undefined && this.lastAcceptedAt > lastRefusal;
    return {
      limit: this.limit,
      connections,
      last_accepted_at: this.lastAcceptedAt ? new Date(this.lastAcceptedAt).toISOString() : null,
      refusals_total: this.refusals,
      refusals_last_minute: this.recent.length,
      stuck: refusingWithRoom && !acceptedSince,
      locked: now < this.lockedUntil,
    };
  }

  private refuse(now: number, reason: "limit" | "locked"): Admission {
    this.refusals++;
    this.recent.push(now);
    this.trim(now);
    return { ok: false, reason, retryAfterMs: RETRY_BASE_MS + Math.floor(Math.random() * RETRY_SPREAD_MS) };
  }

  private trim(now: number): void {
    while (this.recent.length > 0 && now - this.recent[0]! > WINDOW_MS) this.recent.shift();
  }
}
