import type { Request, RequestHandler, Response } from "express";
import { allows } from "../../auth/index.ts";
import { forbidden, scopeFor } from "../auth.ts";
import { apiPathOf, messagePage, sessionOf } from "./guard.ts";
import type { ConsoleRenderer, ConsoleSection } from "./render.ts";

/**
 * What the notifications, subscribers, tokens and audit pages share: the
 * admin API's scope check for reads (its GET /admin/api/tokens needs
 * `admin`, so /admin/tokens does too), whether the session may do a write,
 * and how a page of the area is sent.
 */

/** A console read with the scope its API twin needs; 403 naming the missing scope otherwise. */
export function scopedRead(render: ConsoleRenderer, section: ConsoleSection): RequestHandler {
  return (req, res, next) => {
    const refusal = forbidden(sessionOf(res).actor, "GET", apiPathOf(req.originalUrl));
    if (!refusal) return next();
    messagePage(render, res, 403, "Not allowed", [`This page is not open to you: ${refusal}.`], { section });
  };
}

/** Whether the session's token may send `method apiPath` (so the page shows that control enabled). */
export function mayDo(res: Response, method: string, apiPath: string): boolean {
  return allows(sessionOf(res).actor, scopeFor(method, apiPath));
}

/** Sends a page of the area: the session, its CSRF token and the section's nav mark come along. */
export function sendPage(render: ConsoleRenderer, res: Response, options: { status?: number; view: string; title: string; section: ConsoleSection; data?: Record<string, unknown> }): void {
  const session = sessionOf(res);
  res
    .status(options.status ?? 200)
    .type("html")
    .send(render.page(options.view, { title: options.title, section: options.section, session, csrf: session.csrf, ...options.data }));
}

/** One value of a query string or a form: a string, or a problem when it was sent more than once. */
export function single(value: unknown): string | undefined | { repeated: true } {
  if (value === undefined) return undefined;
  return typeof value === "string" ? value : { repeated: true };
}

/** The posted form as an object (an urlencoded body; anything else reads as empty). */
export function formOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** What `?done=` says after an action: one of the fixed words given, never text from the URL. */
export function doneNote(req: Request, words: Record<string, string>): string | undefined {
  const done = req.query.done;
  return typeof done === "string" && Object.hasOwn(words, done) ? words[done] : undefined;
}

/** A value as a problem quotes it: short, so a 1 MiB mistake is named in a line, not pasted back. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
