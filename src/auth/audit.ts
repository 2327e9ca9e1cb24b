import type { RedisConnection as Redis } from "../core/index.ts";
import type { Actor } from "./tokens.ts";

/**
 * One admin action: who (the token's name and id, never the token), what,
 * when, and how it ended. `status` is null while the action runs, and
 * stays null when the web process stopped before it answered: the action
 * may or may not have taken effect.
 */
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  token: string;
  method: string;
  path: string;
  status: number | null;
}

/** How many actions the log keeps (the oldest go first; each takes two stream entries). */
const KEEP = 10_000;

/**
 * The audit log of admin actions, a capped Redis stream in the control
 * plane. It is written ahead: an action is recorded before it runs (a web
 * process that cannot record it refuses the action), and its outcome when
 * it is answered. So a web process killed mid-request leaves the action on
 * record, with no outcome, and never an action done but not recorded.
 */
export class AuditLog {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}:auth:audit`;
  }

  /** Records an action about to run; returns its id, for `end`. */
  async begin(actor: Actor, method: string, path: string): Promise<string> {
    return (await this.redis.xadd(this.key, "MAXLEN", "~", String(2 * KEEP), "*", "actor", actor.name, "token", actor.id, "method", method, "path", path))!;
  }

  /** Records how the action `id` ended (its HTTP status). */
  async end(id: string, status: number): Promise<void> {
    await this.redis.xadd(this.key, "MAXLEN", "~", String(2 * KEEP), "*", "of", id, "status", String(status));
  }

  /** The newest `limit` actions, newest first, each with its outcome. */
  async recent(limit = 100): Promise<AuditEntry[]> {
    const want = Math.max(1, Math.min(limit, 1_000));
    // An outcome is always newer than its action, so reading back from the newest finds it.
    const rows = await this.redis.xrevrange(this.key, "+", "-", "COUNT", 2 * want + 100);
    const outcomes = new Map<string, number>();
    const entries: AuditEntry[] = [];
    for (const [id, fields] of rows) {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      if (f.of !== undefined) {
        outcomes.set(f.of, Number(f.status));
        continue;
      }
      if (entries.length === want) break;
      entries.push({ id, at: new Date(Number(id.split("-")[0])).toISOString(), actor: f.actor ?? "?", token: f.token ?? "?", method: f.method ?? "?", path: f.path ?? "?", status: outcomes.get(id) ?? (f.status !== undefined ? Number(f.status) : null) });
    }
    return entries;
  }
}
