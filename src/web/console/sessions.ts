import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Response } from "express";
import type { RedisConnection as Redis } from "../../core/index.ts";
import type { Actor, Scope, TokenStore } from "../../auth/index.ts";
import { SESSION_COOKIE, clearCookie, cookieOptions, readCookie } from "./cookies.ts";

/** Who a console session is for: a token's holder, or (later) a person an identity provider vouched for. */
export interface ConsoleIdentity {
  /** Shown in the console and credited on timelines and in the audit log. */
  name: string;
  scopes: readonly Scope[];
  /**
   * The token signed in with, as `TokenStore.verifyToken` refers to it
   * (never the token itself). With it, the session ends at the next request
   * after that token is revoked. @defaultValue none: the session stands on its own
   */
  tokenId?: string;
}

/** A signed-in session as the console's pages use it. */
export interface ConsoleSession {
  /** sha256 of the cookie's value: what Redis keys it by, and safe to log. */
  id: string;
  actor: Actor;
  /** Every form of this session carries it (`_csrf`). */
  csrf: string;
}

/** Why a request with a session cookie has no session. */
export type SessionEnd = "expired" | "revoked";

interface StoredSession {
  name: string;
  scopes: Scope[];
  token?: string;
  csrf: string;
  created_at: string;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export interface ConsoleSessionsOptions {
  redis: Redis;
  prefix: string;
  tokens: TokenStore;
  /** A session that sees no request for this long is gone (admin.session_idle). */
  idleMs: number;
  /** web.trust_proxy: whether X-Forwarded-Proto says the page is served over https. */
  trustProxy: boolean;
}

/**
 * Console sessions, kept in the control-plane Redis. The browser holds a
 * random id in an HttpOnly, SameSite=Strict cookie; Redis holds only its
 * sha256, who it is for, a reference to the token (never the token) and
 * the session's CSRF token, with an idle expiry that every request moves
 * on. Signing out deletes the record, so the old cookie is worth nothing.
 */
export class ConsoleSessions {
  constructor(private readonly options: ConsoleSessionsOptions) {}

  /** Starts a session for `identity` and sets its cookie on `res`. */
  async startSession(res: Response, identity: ConsoleIdentity): Promise<ConsoleSession> {
    const secret = randomBytes(32).toString("base64url");
    const id = digest(secret);
    const stored: StoredSession = {
      name: identity.name,
      scopes: [...identity.scopes],
      ...(identity.tokenId ? { token: identity.tokenId } : {}),
      csrf: randomBytes(32).toString("base64url"),
      created_at: new Date().toISOString(),
    };
    await this.options.redis.set(this.key(id), JSON.stringify(stored), "PX", this.options.idleMs);
    const actor = await this.actorOf(stored, id);
    if (!actor) {
      await this.options.redis.del(this.key(id));
      throw new Error("the token was revoked while its session was being started");
    }
    res.cookie(SESSION_COOKIE, secret, cookieOptions(res.req, this.options.trustProxy, "/admin"));
    return { id, actor, csrf: stored.csrf };
  }

  /**
   * The request's session, its idle expiry moved on (unless `touch: false`); `{ ended }` when it
   * had a cookie whose session is gone (idle too long, signed out) or whose
   * token was revoked (then the record goes too); undefined without one.
   */
  async read(req: IncomingMessage, options: { touch?: boolean } = {}): Promise<ConsoleSession | { ended: SessionEnd } | undefined> {
    const secret = readCookie(req, SESSION_COOKIE);
    if (secret === undefined) return undefined;
    if (!SESSION_ID.test(secret)) return { ended: "expired" };
    const id = digest(secret);
    // `touch: false` (the live stream): looking does not count as activity.
    const raw = options.touch === false ? await this.options.redis.get(this.key(id)) : await this.options.redis.getex(this.key(id), "PX", this.options.idleMs);
    if (!raw) return { ended: "expired" };
    const stored = JSON.parse(raw) as StoredSession | { ended: SessionEnd };
    if ("ended" in stored) return { ended: stored.ended };
    const actor = await this.actorOf(stored, id);
    if (!actor) {
      // The record becomes a tombstone saying why, for the idle time: whichever request sees it first (the page, its
      // live stream, a refresh), every later one still says "revoked", not "expired".
      await this.options.redis.set(this.key(id), JSON.stringify({ ended: "revoked" }), "PX", this.options.idleMs);
      return { ended: "revoked" };
    }
    return { id, actor, csrf: stored.csrf };
  }

  /** Ends the request's session on the server and drops its cookie. */
  async end(req: IncomingMessage, res: Response): Promise<void> {
    const secret = readCookie(req, SESSION_COOKIE);
    if (secret !== undefined && SESSION_ID.test(secret)) await this.options.redis.del(this.key(digest(secret)));
    this.dropCookie(req, res);
  }

  /** Drops the session cookie (a session that ended by itself). */
  dropCookie(req: IncomingMessage, res: Response): void {
    clearCookie(res, req, this.options.trustProxy, SESSION_COOKIE, "/admin");
  }

  /** Whether a form's CSRF token is this session's. */
  static csrfMatches(session: ConsoleSession, offered: unknown): boolean {
    return sameSecret(session.csrf, offered);
  }

  /** The session's actor: its token's as it is now (undefined once revoked), or the identity it was started with. */
  private async actorOf(stored: StoredSession, id: string): Promise<Actor | undefined> {
    if (stored.token) return this.options.tokens.actorOf(stored.token);
    return { id: `session:${id.slice(0, 12)}`, name: stored.name, scopes: stored.scopes };
  }

  private key(id: string): string {
    return `${this.options.prefix}:console:session:${id}`;
  }
}

/** Compares a secret with what a form sent, in constant time. */
export function sameSecret(expected: string, offered: unknown): boolean {
  if (typeof offered !== "string") return false;
  const a = Buffer.from(offered);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
