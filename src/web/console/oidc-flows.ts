import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Response } from "express";
import type { RedisConnection as Redis } from "../../core/index.ts";
import { clearCookie, cookieOptions, readCookie } from "./cookies.ts";

/** The browser's handle on its sign-in in progress: only /admin/oidc pages get it. */
export const FLOW_COOKIE = "pb_console_oidc";
const FLOW_PATH = "/admin/oidc";
/** How long a person has at the provider before the sign-in must start again. */
export const FLOW_TTL_MS = 10 * 60_000;
const FLOW_ID = /^[A-Za-z0-9_-]{43}$/;

/** What the callback checks the provider's answer against; none of it ever leaves the server but `state` and `nonce`, in the request. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  /** The PKCE code verifier (its S256 challenge went to the provider). */
  verifier: string;
}

/**
 * Sign-ins in progress, kept in the control-plane Redis for 10 minutes:
 * the browser holds a random id in a short-lived HttpOnly cookie, Redis
 * holds only its sha256 with the state, nonce and PKCE verifier, and the
 * callback takes the record once (GETDEL), so an answer can be used once,
 * only in the browser that started it. The cookie is SameSite=Lax, not
 * Strict: it must come back on the provider's redirect, a navigation from
 * another site.
 */
export class OidcFlows {
  constructor(private readonly options: { redis: Redis; prefix: string; trustProxy: () => boolean }) {}

  /** Starts a sign-in: new secrets, stored, and the cookie set on `res`. */
  async begin(req: IncomingMessage, res: Response, secrets: PendingSignIn): Promise<void> {
    const handle = randomBytes(32).toString("base64url");
    await this.options.redis.set(this.key(handle), JSON.stringify(secrets), "PX", FLOW_TTL_MS);
    res.cookie(FLOW_COOKIE, handle, { ...cookieOptions(req, this.options.trustProxy(), FLOW_PATH), sameSite: "lax", maxAge: FLOW_TTL_MS });
  }

  /** The request's sign-in in progress, taken (it cannot be used again), its cookie dropped; undefined when there is none. */
  async take(req: IncomingMessage, res: Response): Promise<PendingSignIn | undefined> {
    const handle = readCookie(req, FLOW_COOKIE);
    if (handle === undefined) return undefined;
    clearCookie(res, req, this.options.trustProxy(), FLOW_COOKIE, FLOW_PATH);
    if (!FLOW_ID.test(handle)) return undefined;
    const raw = await this.options.redis.getdel(this.key(handle));
    return raw ? (JSON.parse(raw) as PendingSignIn) : undefined;
  }

  private key(handle: string): string {
    return `${this.options.prefix}:console:oidc:${createHash("sha256").update(handle).digest("hex")}`;
  }
}
