import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { CookieOptions, Response } from "express";

/** The console's session cookie: only /admin pages get it. */
export const SESSION_COOKIE = "pb_console";
/** The sign-in form's CSRF cookie (double submit: the form carries the same value). */
export const LOGIN_COOKIE = "pb_console_login";

/**
 * Whether the browser reached us over https: a TLS socket, or with
 * `trustProxy` (web.trust_proxy) a proxy's `X-Forwarded-Proto: https`,
 * the same trust the client address gets (see client-address.ts).
 */
export function servedOverHttps(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as Partial<TLSSocket>).encrypted === true) return true;
  if (!trustProxy) return false;
  const forwarded = req.headers["x-forwarded-proto"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim().toLowerCase();
  return first === "https";
}

/**
 * What every console cookie is set with: out of reach of scripts
 * (HttpOnly), never sent by another site's page or form (SameSite=Strict),
 * and over https only when the page is served over https (else the browser
 * would drop it on a plain-http install).
 */
export function cookieOptions(req: IncomingMessage, trustProxy: boolean, path: string): CookieOptions {
  return { httpOnly: true, sameSite: "strict", secure: servedOverHttps(req, trustProxy), path };
}

/** One cookie's value from the request, or undefined; a malformed header reads as no cookie. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Tells the browser to drop a cookie (same name, path and attributes it was set with). */
export function clearCookie(res: Response, req: IncomingMessage, trustProxy: boolean, name: string, path: string): void {
  res.clearCookie(name, cookieOptions(req, trustProxy, path));
}
