import type { NextFunction, Request, RequestHandler, Response } from "express";
import { forbidden, type AdminAuth } from "../auth.ts";
import type { ConsolePageData, ConsoleRenderer } from "./render.ts";
import { ConsoleSessions, type ConsoleSession, type SessionEnd } from "./sessions.ts";

/** Why the sign-in page says the person was signed out (`?m=`): fixed words, never text from the URL. */
export const SIGNED_OUT_MESSAGES: Record<SessionEnd | "out", string> = {
  out: "You are signed out.",
  expired: "Your session ended (it was idle too long, or signed out elsewhere). Please sign in again.",
  revoked: "You were signed out: the token this session signed in with has been revoked.",
};

/** The header the console's live script sends on its background refreshes (public/console-live.js). */
export const LIVE_REFRESH_HEADER = "x-console-live";

/** The request's session (set by `signedIn`). */
export function sessionOf(res: Response): ConsoleSession {
  return res.locals.session as ConsoleSession;
}

/**
 * Lets a request through with a live session (`res.locals.session`, and
 * `res.locals.actor` as the admin API sets it, so writes credit the same
 * name); otherwise sends the browser to the sign-in page, saying why when
 * its session ended.
 */
export function signedIn(sessions: ConsoleSessions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    sessions.read(req).then((found) => {
      if (!found) return void res.redirect(303, "/admin/login");
      if ("ended" in found) {
        // The live script's background refresh leaves the cookie: the person's next page load (a reload, a link)
        // must still find it, and so learn why the session ended rather than land on a bare sign-in page.
        if (req.get(LIVE_REFRESH_HEADER) !== "refresh") sessions.dropCookie(req, res);
        return void res.redirect(303, `/admin/login?m=${found.ended}`);
      }
      res.locals.session = found;
      res.locals.actor = found.actor;
      next();
    }, next);
  };
}

/** Renders a console page with a status (refusals, not found, errors). */
export function messagePage(render: ConsoleRenderer, res: Response, status: number, title: string, messages: string[], data: Partial<ConsolePageData> = {}): void {
  res.status(status).type("html").send(render.page("message", { title, messages, session: res.locals.session as ConsoleSession | undefined, ...data }));
}

/** The CSRF check every console form goes through: the session's token, or 403. */
export function csrfChecked(render: ConsoleRenderer): RequestHandler {
  return (req, res, next) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (ConsoleSessions.csrfMatches(sessionOf(res), body._csrf)) return next();
    messagePage(render, res, 403, "Form refused", [
      "This form's CSRF token is missing or does not belong to your session, so nothing was changed.",
      "Forms are only accepted from pages of this console. Reload the page and send the form again.",
    ]);
  };
}

/**
 * A console write: the CSRF check, then the admin API's own scope check for
 * the same action (the console's paths mirror the API's: /admin/incidents
 * is /admin/api/incidents) and its write-ahead audit log, credited to the
 * session's name. A `read` token gets 403 here whatever its page showed.
 */
/** The admin API path a console path mirrors (/admin/tokens/x → /admin/api/tokens/x): the scope its API twin needs is the console's. */
export function apiPathOf(consolePath: string): string {
  return consolePath.split("?")[0]!.replace(/^\/admin(?=\/)/, "/admin/api");
}

export function consoleWrite(auth: AdminAuth, render: ConsoleRenderer): RequestHandler[] {
  const scoped: RequestHandler = (req, res, next) => {
    const { actor } = sessionOf(res);
    const refusal = forbidden(actor, req.method, apiPathOf(req.originalUrl));
    if (refusal) return void messagePage(render, res, 403, "Not allowed", [`Nothing was changed: ${refusal}.`]);
    auth.audited(actor, req, res, next, (refused, message) => messagePage(render, refused, 503, "Not done", [`Nothing was changed: ${message}.`]));
  };
  return [csrfChecked(render), scoped];
}
