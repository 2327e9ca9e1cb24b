import type { Redis } from "ioredis";
import type { Actor } from "./tokens.ts";

/** One admin action: who (the token's name and id, never the token), what, when, and how it ended. */
export interface AuditEntry {
  at: string;
  actor: string;
  token: string;
  method: string;
  path: string;
  status: number;
}

/** How many actions the log keeps (the oldest go first). */
const KEEP = 10_000;

/**
 * The audit log of admin actions, a capped Redis stream in the control
 * plane: every request that changes something, with the token that did it.
 */
export class AuditLog {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}:auth:audit`;
  }

  async record(actor: Actor, method: string, path: string, status: number): Promise<void> {
    await this.redis.xadd(this.key, "MAXLEN", "~", String(KEEP), "*", "actor", actor.name, "token", actor.id, "method", method, "path", path, "status", String(status));
  }

  /** The newest `limit` entries, newest first. */
  async recent(limit = 100): Promise<AuditEntry[]> {
    const rows = await this.redis.xrevrange(this.key, "+", "-", "COUNT", Math.max(1, Math.min(limit, 1_000)));
    return rows.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return { at: new Date(Number(id.split("-")[0])).toISOString(), actor: f.actor ?? "?", token: f.token ?? "?", method: f.method ?? "?", path: f.path ?? "?", status: Number(f.status) };
    });
  }
}
