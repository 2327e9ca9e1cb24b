import { randomBytes } from "node:crypto";
import express, { Router, type Request, type Response } from "express";
import { allows, type Actor } from "../../auth/index.ts";
import { describeError, type Logger } from "../../core/index.ts";
import type { AdminAuth } from "../auth.ts";
import { LOGIN_COOKIE, clearCookie, cookieOptions, readCookie } from "./cookies.ts";
import { SIGNED_OUT_MESSAGES, csrfChecked, signedIn } from "./guard.ts";
import type { OidcOffer } from "./oidc-client.ts";
import type { ConsoleRenderer } from "./render.ts";
import { sameSecret, type ConsoleSessions } from "./sessions.ts";

/** A sign-in form holds one token: anything bigger is not one. */
const LOGIN_BODY_LIMIT = "8kb";
const LOGIN_CSRF = /^[A-Za-z0-9_-]{43}$/;
const LOGIN_CSRF_MAX_AGE_MS = 3_600_000;

export interface LoginRoutesOptions {
  auth: AdminAuth;
  sessions: ConsoleSessions;
  render: ConsoleRenderer;
  trustProxy: () => boolean;
  log: Logger;
  /** What the page offers besides tokens (OpenID Connect, when configured). @defaultValue tokens only */
  oidc?: () => OidcOffer | undefined;
}

/**
 * `/admin/login` (the form: one field, "Token") and `/admin/logout`. A
 * wrong token counts against the admin API's failed-login limit for the
 * address, and a locked-out address gets 429 here as there. The form has
 * no session yet, so its CSRF token is a double submit: a cookie of its own
 * (HttpOnly, SameSite=Strict) and the same value in the form.
 */
export function loginRoutes(options: LoginRoutesOptions): Router {
  const { auth, sessions, render } = options;
  const log = options.log.child({ module: "web.console" });
  const router = Router();

  const form = (req: Request, res: Response, status: number, data: { messages?: string[]; issues?: string[] } = {}) => {
    let csrf = readCookie(req, LOGIN_COOKIE);
    if (!csrf || !LOGIN_CSRF.test(csrf)) {
      csrf = randomBytes(32).toString("base64url");
      res.cookie(LOGIN_COOKIE, csrf, { ...cookieOptions(req, options.trustProxy(), "/admin/login"), maxAge: LOGIN_CSRF_MAX_AGE_MS });
    }
    res.status(status).type("html").send(render.page("login", { title: "Sign in", csrf, messages: data.messages ?? [], issues: data.issues ?? [], oidc: options.oidc?.() }));
  };

  router.get("/login", async (req, res) => {
    const found = await sessions.read(req);
    if (found && !("ended" in found)) return void res.redirect(303, "/admin/incidents");
    const why = typeof req.query.m === "string" ? SIGNED_OUT_MESSAGES[req.query.m as keyof typeof SIGNED_OUT_MESSAGES] : undefined;
    form(req, res, 200, { messages: why ? [why] : [] });
  });

  router.post("/login", express.urlencoded({ extended: false, limit: LOGIN_BODY_LIMIT, parameterLimit: 10 }), async (req, res) => {
    const waitS = auth.loginWait(req);
    if (waitS > 0) {
      res.set("retry-after", String(waitS));
      return void form(req, res, 429, { issues: [`Token: too many failed sign-ins from this address; try again in ${waitS} s`] });
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const cookie = readCookie(req, LOGIN_COOKIE);
    if (!cookie || !LOGIN_CSRF.test(cookie) || !sameSecret(cookie, body._csrf)) {
      return void form(req, res, 403, { issues: ["This sign-in form has expired or did not come from this page (its CSRF token is missing or wrong). Please sign in again."] });
    }
    const token = typeof body.token === "string" ? body.token.trim() : "";
    if (token === "") return void form(req, res, 400, { issues: [typeof body.token === "string" || body.token === undefined ? "Token: enter an admin token" : "Token: sent more than once; send it once"] });
    const verified = await auth.tokens.verifyToken(token);
    if (!verified || !allows(verified.actor, "read")) {
      auth.loginFailed(req);
      return void form(req, res, 401, { issues: ["Token: not a valid admin token (unknown, revoked or mistyped)"] });
    }
    const { actor, ref } = verified;
    const session = await sessions.startSession(res, { name: actor.name, scopes: actor.scopes, tokenId: ref });
    clearCookie(res, req, options.trustProxy(), LOGIN_COOKIE, "/admin/login");
    await recordSignIn(auth, log, actor, req.method, "/admin/login");
    log.info({ actor: actor.name, token_id: actor.id, session: session.id.slice(0, 12) }, "console sign-in");
    res.redirect(303, "/admin/incidents");
  });

  router.post("/logout", signedIn(sessions), express.urlencoded({ extended: false, limit: LOGIN_BODY_LIMIT, parameterLimit: 10 }), csrfChecked(render), async (req, res) => {
    const actor = res.locals.actor as Actor;
    await sessions.end(req, res);
    await recordSignIn(auth, log, actor, req.method, "/admin/logout");
    log.info({ actor: actor.name, token_id: actor.id }, "console sign-out");
    res.redirect(303, "/admin/login?m=out");
  });

  // A sign-in form this big holds no token; say so on the form rather than on a bare error page.
  router.use("/login", (err: unknown, req: Request, res: Response, next: express.NextFunction) => {
    if ((err as { type?: string }).type !== "entity.too.large") return next(err);
    form(req, res, 413, { issues: [`Token: far too long (the sign-in form takes at most ${LOGIN_BODY_LIMIT.replace("kb", " KiB")}); paste the token alone`] });
  });

  return router;
}

/** Sign-ins and sign-outs (and refused ones) go to the audit log beside the writes; a failure to record them does not undo them. */
export async function recordSignIn(auth: AdminAuth, log: Logger, actor: Actor, method: string, path: string, status = 303): Promise<void> {
  try {
    if (auth.audit) await auth.audit.end(await auth.audit.begin(actor, method, path), status);
  } catch (err) {
    log.error({ err: describeError(err), path }, "cannot write a console sign-in to the audit log");
  }
}
