import { Router, type Request, type Response } from "express";
import type { RedisConnection as Redis } from "../../core/index.ts";
import type { Config } from "../../config/index.ts";
import { KeyedRateLimiter, type Logger } from "../../core/index.ts";
import type { AdminAuth } from "../auth.ts";
import { clientAddress } from "../client-address.ts";
import { messagePage } from "./guard.ts";
import { recordSignIn } from "./login-routes.ts";
import { OidcSignIn, ProviderUnreachable, causeChain, loadedOpenid, type OidcOffer } from "./oidc-client.ts";
import { OidcFlows } from "./oidc-flows.ts";
import { groupsShown, personFrom } from "./oidc-identity.ts";
import type { ConsoleRenderer } from "./render.ts";
import type { ConsoleSessions } from "./sessions.ts";

export interface OidcRoutesOptions {
  config: () => Config;
  /** The control-plane Redis: sign-ins in progress live there beside the sessions. */
  redis: Redis;
  sessions: ConsoleSessions;
  auth: AdminAuth;
  render: ConsoleRenderer;
  log: Logger;
}

/** What the person reads after a provider's answer went wrong, and the status it goes with. */
interface Problem {
  status: number;
  title: string;
  messages: string[];
}

const BACK = { href: "/admin/login", label: "Back to sign-in" };
/** Sign-ins one address may start: a burst (a whole office behind one NAT during an incident), then one a second. */
const START_BURST = 60;
const START_RATE_PER_S = 1;

/**
 * OpenID Connect sign-in (admin.oidc): `/admin/oidc/start` sends the
 * browser to the provider with a fresh state, nonce and PKCE challenge;
 * `/admin/oidc/callback` checks the answer belongs to the sign-in this
 * browser started, redeems it, maps the person's groups to scopes and
 * starts a session that stands on its own (no token behind it), credited
 * with the person's name. Whatever goes wrong is a page saying what, never
 * a stack trace; the cause goes to the log.
 */
export function oidcRoutes(options: OidcRoutesOptions): { router: Router; offer: () => OidcOffer | undefined } {
  const { render, sessions, auth } = options;
  const log = options.log.child({ module: "web.console.oidc" });
  const settings = () => options.config().admin.oidc;
  const signIn = new OidcSignIn({ settings, log });
  const flows = new OidcFlows({ redis: options.redis, prefix: options.config().redis.prefix, trustProxy: () => options.config().web.trustProxy });
  signIn.warmUp();
  const starts = new KeyedRateLimiter(START_RATE_PER_S, START_BURST);
  const router = Router();

  const problem = (res: Response, p: Problem) => messagePage(render, res, p.status, p.title, p.messages, { back: BACK });
  const notConfigured = (res: Response) => problem(res, { status: 404, title: "Not found", messages: ["This console signs in with tokens only: no identity provider is configured."] });

  router.get("/oidc/start", async (req, res) => {
    const oidc = settings();
    if (!oidc) return notConfigured(res);
    // Each start stores a sign-in in progress for 10 minutes, before anyone is known: a limit per address keeps that bounded.
    if (!starts.take(clientAddress(req, options.config().web.trustProxy))) {
      res.set("retry-after", "60");
      return problem(res, { status: 429, title: "Too many sign-ins", messages: [`Too many sign-ins with ${oidc.name} were started from your address in a short time. Wait a minute and try again.`] });
    }
    try {
      const { url, pending } = await signIn.authorizationUrl();
      await flows.begin(req, res, pending);
      res.redirect(303, url.href);
    } catch (err) {
      if (!(err instanceof ProviderUnreachable)) throw err;
      problem(res, unreachable(oidc.name));
    }
  });

  router.get("/oidc/callback", async (req: Request, res: Response) => {
    const oidc = settings();
    if (!oidc) return notConfigured(res);
    const pending = await flows.take(req, res);
    if (!pending) {
      return problem(res, {
        status: 400,
        title: "Sign-in not finished",
        messages: [
          `This answer from ${oidc.name} does not match a sign-in started in this browser: it has expired (a sign-in must be finished within 10 minutes), was already used, or was started in another browser. Nothing was done.`,
          "Start again from the sign-in page.",
        ],
      });
    }
    if (req.query.state !== pending.state) {
      log.warn({ provider: oidc.name }, "console sign-in refused: the provider's answer carries another state than the sign-in this browser started");
      return problem(res, {
        status: 400,
        title: "Sign-in refused",
        messages: [`This answer from ${oidc.name} does not belong to the sign-in this browser started (its state does not match), so you are not signed in.`, "Start again from the sign-in page."],
      });
    }
    let claims: Record<string, unknown>;
    try {
      claims = await signIn.finish(new URL(req.originalUrl, "http://callback").search, pending);
    } catch (err) {
      const said = providerProblem(err, oidc.name);
      if (!said) throw err;
      log.warn({ provider: oidc.name, err: causeChain(err) }, "console sign-in failed at the identity provider");
      return problem(res, said);
    }
    const person = personFrom(claims, oidc);
    if (person.scopes.length === 0) {
      log.info({ provider: oidc.name, person: person.name, subject: person.subject, groups: person.groups.slice(0, 20) }, "console sign-in refused: no mapped group");
      await recordSignIn(auth, log, { id: "oidc", name: person.name, scopes: [] }, "GET", "/admin/oidc/callback", 403);
      return problem(res, {
        status: 403,
        title: "Not allowed",
        messages: [
          "Your account is not in a group that may use this console: ask whoever runs this console to give one of your groups access (admin.oidc.scopes), or to add you to a group that has it.",
          person.groups.length > 0 ? `${oidc.name} signed you in as ${person.name}, in these groups: ${groupsShown(person.groups)}.` : `${oidc.name} signed you in as ${person.name}, but sent no groups for you (in its "${oidc.claim}" claim).`,
        ],
      });
    }
    const session = await sessions.startSession(res, { name: person.name, scopes: person.scopes });
    await recordSignIn(auth, log, session.actor, "GET", "/admin/oidc/callback", 200);
    log.info({ provider: oidc.name, person: person.name, subject: person.subject, scopes: person.scopes, session: session.id.slice(0, 12) }, "console sign-in");
    // The session cookie is SameSite=Strict, and this page came at the end of a navigation from the provider's site: a browser would not send it
    // on a redirect from here. A refresh is a navigation of this page's own, so the cookie goes with it (and the link works without one).
    res.set("refresh", "0; url=/admin/incidents");
    res.status(200).type("html").send(render.page("oidc-signed-in", { title: "Signed in", session, person: { name: person.name, scopes: person.scopes.join(", ") }, provider: oidc.name }));
  });

  const offer = (): OidcOffer | undefined => {
    const oidc = settings();
    if (!oidc) return undefined;
    return { name: oidc.name, unreachable: signIn.state() === "unreachable" };
  };
  return { router, offer };
}

function unreachable(name: string): Problem {
  return {
    status: 503,
    title: "Sign-in unavailable",
    messages: [`${name} cannot be reached right now, so signing in with it is not possible.`, "Sign in with a token, or try again in a minute."],
  };
}

/** A provider's or the library's error in plain words; undefined for anything else (the console's own 500). */
export function providerProblem(err: unknown, name: string): Problem | undefined {
  const again = "Nothing was changed. Start again from the sign-in page; if it keeps failing, ask whoever runs this console to look at its log.";
  if (err instanceof ProviderUnreachable || unreachableCause(err)) return unreachable(name);
  const lib = loadedOpenid();
  if (!lib) return undefined;
  const { AuthorizationResponseError, ClientError, ResponseBodyError, WWWAuthenticateChallengeError } = lib;
  if (err instanceof AuthorizationResponseError) {
    return { status: 401, title: "Not signed in", messages: [`${name} did not sign you in: ${said(err.error, err.error_description)}.`, again] };
  }
  // The token endpoint refused the code: in a JSON body, or (a client that failed to authenticate) in a WWW-Authenticate challenge.
  const refused = err instanceof ResponseBodyError ? err : err instanceof WWWAuthenticateChallengeError ? { error: err.cause[0]?.parameters.error ?? `HTTP ${err.status}`, error_description: err.cause[0]?.parameters.error_description } : undefined;
  if (refused) {
    const hint = refused.error === "invalid_client" ? " The console's client id or secret is not the one the provider knows (admin.oidc)." : "";
    return { status: 502, title: "Sign-in failed", messages: [`${name} refused to finish the sign-in: ${said(refused.error, refused.error_description)}.${hint}`, again] };
  }
  if (err instanceof ClientError && err.message !== "something went wrong") {
    return { status: 502, title: "Sign-in failed", messages: [`The answer from ${name} could not be verified (${clip(err.message)}), so you are not signed in.`, again] };
  }
  return undefined;
}

/** Whether an error (or what caused it) is the network's: fetch failing, a timeout, the egress policy. */
function unreachableCause(err: unknown): boolean {
  for (let at = err, depth = 0; at instanceof Error && depth < 5; at = at.cause, depth++) {
    if ((at instanceof TypeError && at.message === "fetch failed") || at.name === "EgressRefused") return true;
    const code = (at as { code?: unknown }).code;
    if (code === "OAUTH_TIMEOUT" || code === "OAUTH_ABORT") return true;
  }
  return false;
}

/** An OAuth error code with its description, as the provider sent them, cut short. */
function said(error: string, description: string | undefined): string {
  return description ? `${clip(description)} (${clip(error)})` : clip(error);
}

function clip(text: string): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}
