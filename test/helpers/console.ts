import assert from "node:assert/strict";

/** One answer of the console, with what a browser would keep of it. */
export interface ConsoleAnswer {
  status: number;
  location: string | null;
  /** Raw Set-Cookie headers, as sent. */
  setCookies: string[];
  text: string;
}

/**
 * A browser-like client of the console over real HTTP: a cookie jar (set,
 * replaced and dropped the way a browser does), no redirects followed, and
 * forms sent urlencoded, as a browser without JavaScript sends them.
 */
export class ConsoleClient {
  readonly jar = new Map<string, string>();

  constructor(
    readonly base: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<ConsoleAnswer> {
    return this.send(path, { method: "GET", headers });
  }

  /** POSTs a form (fields as given: strings, or repeated fields as arrays). */
  async post(path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<ConsoleAnswer> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(fields)) for (const v of Array.isArray(value) ? value : [value]) body.append(name, v);
    return this.send(path, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: body.toString() });
  }

  /** Sends a raw body (a 1 MiB form, JSON where a form belongs). */
  async send(path: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<ConsoleAnswer> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(this.base + path, { method: init.method, body: init.body, redirect: "manual", headers: { ...this.headers, ...(cookie ? { cookie } : {}), ...init.headers } });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=thu, 01 jan 1970/i.test(a)) || value === "";
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return { status: res.status, location: res.headers.get("location"), setCookies, text: await res.text() };
  }

  /** Signs in through the form with `token`; fails the test unless it lands on the incidents list. */
  async signIn(token: string): Promise<void> {
    const answer = await this.signInAnswer(token);
    assert.equal(answer.status, 303, answer.text);
    assert.equal(answer.location, "/admin/incidents");
  }

  /** Opens the sign-in form and sends `token` with the form's CSRF token. */
  async signInAnswer(token: string, headers: Record<string, string> = {}): Promise<ConsoleAnswer> {
    const form = await this.get("/admin/login", headers);
    return this.post("/admin/login", { _csrf: csrfOf(form.text), token }, headers);
  }

  /** A page's form fields to send back: its CSRF token and idempotency key. */
  async formOf(path: string): Promise<{ _csrf: string; key: string; html: string }> {
    const page = await this.get(path);
    assert.equal(page.status, 200, `${path}: ${page.status} ${page.location ?? ""}`);
    return { _csrf: csrfOf(page.text), key: /name="key" value="([^"]+)"/.exec(page.text)?.[1] ?? "", html: page.text };
  }
}

/** The CSRF token a page's forms carry. */
export function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, "the page has a form with a CSRF token");
  return match[1]!;
}

/** The attributes of the Set-Cookie header for `name`, lower-cased (`httponly`, `samesite=strict`, `path=/admin`, …). */
export function cookieAttributes(setCookies: string[], name: string): string[] | undefined {
  const line = setCookies.find((c) => c.startsWith(`${name}=`));
  return line?.split(";").slice(1).map((a) => a.trim().toLowerCase());
}

/** The problems a console page lists (the `issues` box), as text. */
export function issuesOf(html: string): string[] {
  const box = /<div class="issues"[^>]*>([\s\S]*?)<\/div>/.exec(html)?.[1] ?? "";
  return [...box.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => decodeEntities(m[1]!));
}

export function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&#x3D;/g, "=").replace(/&#x60;/g, "`").replace(/&amp;/g, "&");
}
