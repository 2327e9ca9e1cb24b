import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { RedisConnection as Redis } from "../core/index.ts";
import { bearerToken, tokenMatcher } from "../core/index.ts";

/** What an admin token may do on the admin API. Each of them may read; `admin` includes every other scope. */
export const SCOPES = ["read", "incidents", "playbooks", "fleet", "admin"] as const;
export type AdminScope = (typeof SCOPES)[number];
/**
 * A token scoped to one thing outside the admin API: `agent:<location>`
 * (a remote agent pulls that location's probes and pushes its results) or
 * `heartbeat:<probe>` (a job pings that heartbeat check). A token with only
 * such scopes can do nothing on the admin API, not even read.
 */
export type NarrowScope = `agent:${string}` | `heartbeat:${string}`;
export type Scope = AdminScope | NarrowScope;
const NARROW_SCOPE = /^(agent|heartbeat):([a-z0-9][a-z0-9-]{0,62})$/;

/** What each scope allows, for `pulseboard tokens` and the docs. */
export const NARROW_SCOPE_WORDS = {
  "agent:<location>": "only: pull that location's probes and push their results (a remote agent)",
  "heartbeat:<probe>": "only: ping that heartbeat check (/api/heartbeat/<probe>)",
};

export const SCOPE_WORDS: Record<AdminScope, string> = {
  read: "read everything the admin API shows",
  incidents: "open, update and resolve incidents; maintenance; postmortems; notification replays",
  playbooks: "switch playbooks on and off, approve and reject runs, validate playbooks",
  fleet: "pause, resume and run probes now",
  admin: "everything, including tokens, subscribers and the audit log",
};

/** A token as listed: never its secret, which exists only in the answer that created it. */
export interface TokenRecord {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: string;
  revoked_at?: string;
  /** When it was last used, to the minute. */
  last_used_at?: string;
}

/** How often a token's last use is written down (it is shown to the minute). */
const USED_EVERY_MS = 60_000;

/** Who a request's token says it is. */
export interface Actor {
  /** The stored token's id, or `bootstrap` for ADMIN_TOKEN. */
  id: string;
  name: string;
  scopes: readonly Scope[];
}

interface Stored extends TokenRecord {
  /** sha256 of the secret, hex. */
  hash: string;
}

const TOKEN_PATTERN = /^pb_([a-z0-9]{12})\.([A-Za-z0-9_-]{43})$/;
const NAME_PATTERN = /^[\p{L}\p{N} ._@-]{1,64}$/u;

/** A problem with what was asked of the token store, said as it is (HTTP 400, CLI exit 2). */
export class TokenInputError extends Error {
  override name = "TokenInputError";
}

/**
 * Admin tokens with scopes, kept hashed in the control-plane Redis: a token
 * reads `pb_<id>.<secret>`, and only sha256(secret) is stored, so neither a
 * Redis dump nor the admin API can give one back. The bootstrap ADMIN_TOKEN
 * (from the environment or `pulseboard start`'s token file) has every scope.
 */
export class TokenStore {
  private readonly key: string;
  private readonly usedKey: string;
  private readonly bootstrap: (offered: string | undefined) => boolean;
  /** sha256 of each bootstrap token, hex: what a session's reference to one is checked against. */
  private readonly bootstrapDigests: Set<string>;

  private readonly usedAt = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    bootstrapTokens: string[] = [],
  ) {
    this.key = `${prefix}:auth:tokens`;
    this.usedKey = `${prefix}:auth:used`;
    this.bootstrap = tokenMatcher(bootstrapTokens);
    this.bootstrapDigests = new Set(bootstrapTokens.map(sha256));
  }

  /** Creates a token; the answer is the only place its secret ever appears. */
  async create(name: string, scopes: string[]): Promise<{ token: string; record: TokenRecord }> {
    const cleanName = name.trim();
    if (!NAME_PATTERN.test(cleanName)) throw new TokenInputError("name: 1 to 64 letters, digits, spaces or . _ @ -");
    const wanted = [...new Set(scopes.map((s) => s.trim()).filter(Boolean))];
    if (wanted.length === 0) throw new TokenInputError(`scopes: give at least one of ${SCOPES.join(", ")}`);
    const unknown = wanted.filter((s) => !isScope(s));
    if (unknown.length > 0) {
      throw new TokenInputError(
        `scopes: ${unknown.map((s) => JSON.stringify(s)).join(", ")} ${unknown.length === 1 ? "is not a scope" : "are not scopes"}; there are ${SCOPES.join(", ")}, ${Object.keys(NARROW_SCOPE_WORDS).join(", ")}`,
      );
    }
    const narrow = wanted.filter((s) => NARROW_SCOPE.test(s));
    if (narrow.length > 0 && narrow.length < wanted.length) {
      throw new TokenInputError(`scopes: ${narrow.join(", ")} cannot be combined with admin API scopes: a token given to an agent or a job must be good for nothing else`);
    }
    const id = randomBytes(8).toString("hex").slice(0, 12);
    const secret = randomBytes(32).toString("base64url");
    const record: Stored = { id, name: cleanName, scopes: wanted as Scope[], created_at: new Date().toISOString(), hash: sha256(secret) };
    await this.redis.hset(this.key, id, JSON.stringify(record));
    return { token: `pb_${id}.${secret}`, record: publicRecord(record) };
  }

  async list(): Promise<TokenRecord[]> {
    const [all, used] = await Promise.all([this.redis.hgetall(this.key), this.redis.hgetall(this.usedKey)]);
    return Object.values(all)
      .map((raw) => publicRecord(JSON.parse(raw) as Stored, used))
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Revokes a token at once; it stays listed, marked revoked. False when there is no such token. */
  async revoke(id: string): Promise<TokenRecord | undefined> {
    const raw = await this.redis.hget(this.key, id);
    if (!raw) return undefined;
    const record = JSON.parse(raw) as Stored;
    record.revoked_at ??= new Date().toISOString();
    await this.redis.hset(this.key, id, JSON.stringify(record));
    return publicRecord(record);
  }

  /** Notes when a token was last used, at most once a minute per token and process (not a write per request). */
  private markUsed(id: string): void {
    const now = Date.now();
    if (now - (this.usedAt.get(id) ?? 0) < USED_EVERY_MS) return;
    this.usedAt.set(id, now);
    void this.redis.hset(this.usedKey, id, new Date(now).toISOString()).catch(() => this.usedAt.delete(id));
  }

  /** Who an `Authorization` header's token is, or undefined for a missing, unknown or revoked one. */
  async verify(header: string | undefined): Promise<Actor | undefined> {
    return (await this.verifyToken(bearerToken(header)))?.actor;
  }

  /**
   * Who a token is, with a reference to it that is safe to keep (a console
   * session keeps it, see `actorOf`): the stored token's id, or
   * `bootstrap:<sha256>` for ADMIN_TOKEN; never the secret. Undefined for
   * a missing, unknown or revoked token.
   */
  async verifyToken(offered: string | undefined): Promise<{ actor: Actor; ref: string } | undefined> {
    if (!offered) return undefined;
    if (this.bootstrap(offered)) return { actor: BOOTSTRAP_ACTOR, ref: `bootstrap:${sha256(offered)}` };
    const match = TOKEN_PATTERN.exec(offered);
    if (!match) return undefined;
    const raw = await this.redis.hget(this.key, match[1]!);
    if (!raw) return undefined;
    const record = JSON.parse(raw) as Stored;
    const same = timingSafeEqual(Buffer.from(sha256(match[2]!), "hex"), Buffer.from(record.hash, "hex"));
    if (!same || record.revoked_at) return undefined;
    this.markUsed(record.id);
    return { actor: { id: record.id, name: record.name, scopes: record.scopes }, ref: record.id };
  }

  /**
   * The actor a reference from `verifyToken` names while its token is still
   * good: undefined once the token is revoked, or once the bootstrap token it
   * names is no longer configured.
   */
  async actorOf(ref: string): Promise<Actor | undefined> {
    if (ref.startsWith("bootstrap:")) return this.bootstrapDigests.has(ref.slice("bootstrap:".length)) ? BOOTSTRAP_ACTOR : undefined;
    const raw = await this.redis.hget(this.key, ref);
    if (!raw) return undefined;
    const record = JSON.parse(raw) as Stored;
    if (record.revoked_at) return undefined;
    this.markUsed(record.id);
    return { id: record.id, name: record.name, scopes: record.scopes };
  }
}

const BOOTSTRAP_ACTOR: Actor = { id: "bootstrap", name: "admin", scopes: ["admin"] };

function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text) || NARROW_SCOPE.test(text);
}

/** Whether an actor's scopes allow `scope` on the admin API: every admin scope reads, `admin` does everything; agent and heartbeat scopes nothing. */
export function allows(actor: Actor, scope: AdminScope): boolean {
  if (actor.scopes.includes("admin")) return true;
  const adminScopes = actor.scopes.filter((s) => (SCOPES as readonly string[]).includes(s));
  return adminScopes.length > 0 && (scope === "read" || adminScopes.includes(scope));
}

/** Whether an actor may act for `scope` (`agent:eu-west`, `heartbeat:archiver`): holding it, or `admin`. */
export function allowsNarrow(actor: Actor, scope: NarrowScope): boolean {
  return actor.scopes.includes("admin") || actor.scopes.includes(scope);
}

function publicRecord(stored: Stored, used: Record<string, string> = {}): TokenRecord {
  const { hash: _hash, ...record } = stored;
  return used[stored.id] ? { ...record, last_used_at: used[stored.id] } : record;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
