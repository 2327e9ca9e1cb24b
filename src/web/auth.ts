import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { RedisConnection as Redis } from "../core/index.ts";
import { allows, AuditLog, TokenStore, type Actor, type AdminScope } from "../auth/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import type { Author } from "../status/index.ts";
import { clientAddress } from "./client-address.ts";

/**
 * The scope a request to the admin API needs: reading needs `read`; changing
 * incidents, maintenance, notifications and incident templates needs `incidents`; playbooks
 * `playbooks`; probes and the gateway fleet `fleet`; tokens, the audit log
 * and subscribers `admin`.
 */
export function scopeFor(method: string, path: string): AdminScope {
  const p = path.replace(/^\/admin\/api/, "").split("?")[0]!;
  if (/^\/(tokens|audit)(\/|$)/.test(p)) return "admin";
  if (method === "GET" || method === "HEAD") return "read";
  if (/^\/playbooks(\/|$)/.test(p)) return "playbooks";
  if (/^\/(probes|fleet)(\/|$)/.test(p)) return "fleet";
  if (/^\/(incidents|maintenances|notifications|templates)(\/|$)/.test(p)) return "incidents";
  return "admin";
}

export interface AdminAuthLimits {
  /** Failed logins one client address may make in `perMs` before it gets 429. */
  failedLogins: { max: number; perMs: number };
  trustProxy: boolean;
}

/**
 * Who may use the admin API: the bootstrap ADMIN_TOKEN (every scope) and
 * the scoped tokens of the control plane. Every request that changes
 * something is written to the audit log (who, what, when, how it ended),
 * never with the token itself.
 */
export class AdminAuth {
  private readonly failures = new Map<string, number[]>();
  private readonly limits: AdminAuthLimits;

  constructor(
    readonly tokens: TokenStore,
    readonly audit: AuditLog | undefined,
    private readonly log?: Logger,
    limits: Partial<AdminAuthLimits> = {},
  ) {
    this.limits = { failedLogins: limits.failedLogins ?? { max: 10, perMs: 60_000 }, trustProxy: limits.trustProxy ?? false };
    setInterval(() => this.sweep(), 60_000).unref();
  }

  static forRedis(redis: Redis, prefix: string, bootstrapTokens: string[], log?: Logger, limits?: Partial<AdminAuthLimits>): AdminAuth {
    return new AdminAuth(new TokenStore(redis, prefix, bootstrapTokens), new AuditLog(redis, prefix), log, limits);
  }

  /** Checks the bearer token and the scope the route needs; 401 without a valid token, 403 without the scope. */
  guard(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction): void => {
      const client = clientAddress(req, this.limits.trustProxy);
      const waitS = this.lockedFor(client);
      if (waitS > 0) {
        res.status(429).set("retry-after", String(waitS)).json({ code: "rate_limited", message: `too many failed admin logins from this address; retry in ${waitS} s` });
        return;
      }
      void this.tokens.verify(req.get("authorization")).then(
        (actor) => {
          if (!actor) {
            this.failed(client);
            res.status(401).set("WWW-Authenticate", 'Bearer realm="pulseboard-admin"').json({ code: "unauthorized", message: "a valid bearer token is required" });
            return;
          }
          const refusal = forbidden(actor, req.method, req.originalUrl);
          if (refusal) {
            res.status(403).json({ code: "forbidden", message: refusal });
            return;
          }
          res.locals.actor = actor;
          if (req.method === "GET" || req.method === "HEAD" || !this.audit) return next();
          return this.audited(actor, req, res, next);
        },
        (err: unknown) => next(err),
      );
    };
  }

  /** Seconds until this request's address may try to sign in again (the console's form shares the API's limit); 0 when it may now. */
  loginWait(req: IncomingMessage): number {
    return this.lockedFor(clientAddress(req, this.limits.trustProxy));
  }

  /** Counts a failed sign-in (a wrong token in the console's form) against this request's address, as a 401 of the API counts. */
  loginFailed(req: IncomingMessage): void {
    this.failed(clientAddress(req, this.limits.trustProxy));
  }

  /** Seconds until this address may try again; 0 when it may now. */
  private lockedFor(client: string): number {
    const { max, perMs } = this.limits.failedLogins;
    const recent = (this.failures.get(client) ?? []).filter((t) => Date.now() - t < perMs);
    return recent.length >= max ? Math.ceil((recent[0]! + perMs - Date.now()) / 1_000) : 0;
  }

  private failed(client: string): void {
    const { max, perMs } = this.limits.failedLogins;
    const recent = (this.failures.get(client) ?? []).filter((t) => Date.now() - t < perMs);
    recent.push(Date.now());
    this.failures.set(client, recent.slice(-max));
    if (recent.length === max) this.log?.warn({ client, failures: max, per_ms: perMs }, "too many failed admin logins from one address; refusing it for a while");
  }

  private sweep(): void {
    for (const [client, times] of this.failures) if (times.every((t) => Date.now() - t >= this.limits.failedLogins.perMs)) this.failures.delete(client);
  }

  /**
   * Records the action before it runs and its outcome once answered; refuses
   * it when it cannot be recorded (with `refuse`, e.g. a page for the
   * console; by default the API's JSON 503).
   */
  audited(actor: Actor, req: Request, res: Response, next: NextFunction, refuse?: (res: Response, message: string) => void): void {
    const path = pathOf(req);
    this.audit!.begin(actor, req.method, path).then(
      (id) => {
        res.once("finish", () => {
          this.log?.info({ actor: actor.name, token_id: actor.id, method: req.method, path, status: res.statusCode }, "admin action");
          this.audit!.end(id, res.statusCode).catch((err: unknown) => {
            this.log?.error({ err: describeError(err), method: req.method, path }, "cannot write an admin action's outcome to the audit log");
          });
        });
        next();
      },
      (err: unknown) => {
        this.log?.error({ err: describeError(err), method: req.method, path }, "cannot write the audit log; the admin action was refused");
        const message = `the audit log cannot be written, so ${req.method} ${path} was not done; retry shortly`;
        res.status(503).set("retry-after", "5");
        if (refuse) refuse(res, message);
        else res.json({ code: "audit_unavailable", message });
      },
    );
  }
}

/** Why `actor` may not do `method path` on the admin API (the scope it lacks), or undefined when it may. */
export function forbidden(actor: Actor, method: string, path: string): string | undefined {
  const scope = scopeFor(method, path);
  if (allows(actor, scope)) return undefined;
  return `the token "${actor.name}" lacks the "${scope}" scope that ${method} ${path.split("?")[0]} needs (it has ${actor.scopes.join(", ")})`;
}

/** The person a request's token names, as incident timelines credit them. */
export function authorOf(res: Response): Author {
  const actor = res.locals.actor as Actor | undefined;
  return { kind: "person", name: actor?.name ?? "admin" };
}

/** The path without its query: an approve token or a search never goes into a log. */
function pathOf(req: Request): string {
  return req.originalUrl.split("?")[0]!;
}
