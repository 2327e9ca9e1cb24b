import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";
import { didYouMean } from "./closest.ts";
import { shown } from "./issues.ts";

/**
 * What a group may be given in the console: the admin API's scopes
 * (src/auth/tokens.ts SCOPES; the console checks the two lists are the same
 * at compile time, since config may not import auth). The narrow ones
 * (`agent:…`, `heartbeat:…`) are for machines, never for a person.
 */
export const CONSOLE_SCOPES = ["read", "incidents", "playbooks", "fleet", "admin"] as const;
export type ConsoleScope = (typeof CONSOLE_SCOPES)[number];

/** Where the console's callback route lives: a redirect_url must end there (after any proxy prefix). */
export const OIDC_CALLBACK_PATH = "/admin/oidc/callback";

/** What the console asks the provider for unless `request_scopes` says otherwise. */
const DEFAULT_REQUEST_SCOPES = ["openid", "profile", "email"];

const scopeSchema = z.unknown().transform((value, ctx): ConsoleScope => {
  if (typeof value === "string" && (CONSOLE_SCOPES as readonly string[]).includes(value)) return value as ConsoleScope;
  const hint = typeof value === "string" ? didYouMean(value, CONSOLE_SCOPES) : "";
  ctx.addIssue({ code: "custom", message: `${shown(value)} is not a console scope${hint}; expected one of ${CONSOLE_SCOPES.join(", ")}` });
  return z.NEVER;
});

const httpUrl = (what: string) =>
  z.string({ error: `expected ${what}` }).refine((text) => {
    try {
      return ["http:", "https:"].includes(new URL(text).protocol);
    } catch {
      return false;
    }
  }, { error: `expected ${what}` });

/**
 * `admin.oidc:` in pulseboard.yaml: sign in to the console with the team's
 * identity provider (authorization code flow with PKCE). A claim of the ID
 * token or userinfo (`claim`, groups by default) names the person's groups;
 * `scopes` gives each group what it may do. Someone in no mapped group is
 * refused.
 */
export const oidcSchema = z.strictObject({
  /** Shown on the sign-in page ("Sign in with …"). @defaultValue the issuer's host name */
  name: z.string().trim().min(1, { error: "give the provider a name, or leave name out" }).max(60, { error: "at most 60 characters (it is a button's label)" }).optional(),
  /** The provider's issuer URL: its discovery document is `<issuer>/.well-known/openid-configuration`. */
  issuer: httpUrl("the identity provider's issuer URL, like https://login.example.com/realms/ops"),
  client_id: z.string({ error: "expected the client id the provider gave the console" }).min(1, { error: "expected the client id the provider gave the console" }),
  /** The client's secret; never logged or shown. Give it or `client_secret_file`. */
  client_secret: z.string().min(1, { error: "must not be empty" }).optional(),
  /** A file holding the client's secret (a Docker or Kubernetes secret), read at start and at every reload. */
  client_secret_file: z.string().min(1, { error: "expected a path" }).optional(),
  /** How the console authenticates to the provider's token endpoint, as the client is registered there. @defaultValue "basic" (client_secret_basic) */
  client_auth: z.enum(["basic", "post"], { error: 'expected "basic" (client_secret_basic) or "post" (client_secret_post)' }).default("basic"),
  /** Where the provider sends people back; register it at the provider. @defaultValue page.url + /admin/oidc/callback */
  redirect_url: httpUrl(`the console's callback URL, like https://status.example.com${OIDC_CALLBACK_PATH}`).optional(),
  /** The claim listing the person's groups (a list, or one string). @defaultValue "groups" */
  claim: z.string().min(1, { error: "expected a claim name, like groups" }).default("groups"),
  /** The claim with the person's name, as timelines and the audit log credit them. @defaultValue name, then email, then sub */
  name_claim: z.string().min(1, { error: "expected a claim name, like preferred_username" }).optional(),
  /** The OAuth scopes the console asks for (some providers send groups only for a `groups` scope). @defaultValue [openid, profile, email] */
  request_scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, { error: "expected a scope name without spaces or quotes" }))
    .refine((list) => list.includes("openid"), { error: 'must include "openid" (it is what makes this OpenID Connect)' })
    .optional(),
  /** Group → the console scopes its members get; someone in several groups gets them all. */
  scopes: z
    .record(z.string().min(1, { error: "a group name must not be empty" }), z.array(scopeSchema).min(1, { error: "give the group at least one scope (read to look only)" }), { error: 'expected a mapping of group → scopes, like { oncall: [incidents, playbooks], support: [read] }' })
    .refine((map) => Object.keys(map).length > 0, { error: 'map at least one group to scopes, like { oncall: [incidents] }: without one nobody could sign in' }),
});

export type OidcFileConfig = z.output<typeof oidcSchema>;

/** `admin.oidc` resolved: what the console's sign-in uses. `clientSecret` is a secret: never log or show it. */
export interface OidcConfig {
  /** Shown on the sign-in page. */
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** client_secret_basic or client_secret_post at the token endpoint. */
  clientAuth: "basic" | "post";
  redirectUrl: string;
  claim: string;
  /** Undefined: name, then email, then sub. */
  nameClaim?: string;
  requestScopes: string[];
  scopes: Record<string, ConsoleScope[]>;
  /** Whether requests to the provider may be plain http (only to a provider on this machine). */
  insecureLoopback: boolean;
}

/** Resolves `admin.oidc` against the page's URL; each problem names its field. */
export function resolveOidc(file: OidcFileConfig | undefined, ctx: { pageUrl: string; cwd: string; problems: string[] }): OidcConfig | undefined {
  if (!file) return undefined;
  const at = "admin.oidc";
  const { problems } = ctx;
  const issuer = new URL(file.issuer);
  const loopback = isLoopback(issuer.hostname);
  if (issuer.protocol !== "https:" && !loopback) problems.push(`${at}.issuer: must be an https URL (plain http only for a provider on this machine: localhost, 127.0.0.1, ::1)`);
  if (issuer.search || issuer.hash) problems.push(`${at}.issuer: an issuer URL has no query or fragment`);

  let clientSecret = file.client_secret ?? "";
  if (file.client_secret !== undefined && file.client_secret_file !== undefined) problems.push(`${at}.client_secret_file: give client_secret or client_secret_file, not both`);
  else if (file.client_secret_file !== undefined) {
    const secretFile = path.resolve(ctx.cwd, file.client_secret_file);
    try {
      clientSecret = readFileSync(secretFile, "utf8").trim();
      if (clientSecret === "") problems.push(`${at}.client_secret_file: ${secretFile} is empty`);
    } catch (err) {
      problems.push(`${at}.client_secret_file: cannot read ${secretFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  } else if (file.client_secret === undefined) problems.push(`${at}.client_secret: give the client's secret (client_secret, or client_secret_file with the path of a file holding it)`);

  const redirectUrl = file.redirect_url ?? `${ctx.pageUrl.replace(/\/$/, "")}${OIDC_CALLBACK_PATH}`;
  const redirect = new URL(redirectUrl);
  if (!redirect.pathname.endsWith(OIDC_CALLBACK_PATH) || redirect.search || redirect.hash) {
    problems.push(`${at}.redirect_url: must end in ${OIDC_CALLBACK_PATH} with no query (that is where the console takes the provider's answer), got ${shown(redirectUrl, 120)}`);
  }
  return {
    name: file.name ?? issuer.hostname.replace(/^\[|\]$/g, ""),
    issuer: file.issuer,
    clientId: file.client_id,
    clientSecret,
    clientAuth: file.client_auth,
    redirectUrl,
    claim: file.claim,
    ...(file.name_claim ? { nameClaim: file.name_claim } : {}),
    requestScopes: file.request_scopes ?? DEFAULT_REQUEST_SCOPES,
    scopes: file.scopes,
    insecureLoopback: issuer.protocol === "http:" && loopback,
  };
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}
