import { createHash } from "node:crypto";
import type * as Client from "openid-client";
import type { OidcConfig } from "../../config/index.ts";
import { checkEgressHost, describeError, type Logger } from "../../core/index.ts";
import type { PendingSignIn } from "./oidc-flows.ts";

let loading: Promise<typeof Client> | undefined;
let library: typeof Client | undefined;
/** openid-client, loaded on first use: a web role without admin.oidc never holds it (some 7 MiB resident). */
function openid(): Promise<typeof Client> {
  return (loading ??= import("openid-client").then((module) => (library = module)));
}

/** The library once something loaded it (its error classes, to explain a failed sign-in); undefined before, when no error can be one of its. */
export function loadedOpenid(): typeof Client | undefined {
  return library;
}

/** Where the provider stands, as the sign-in page tells it. */
export type ProviderState = "ready" | "pending" | "unreachable";

/** What the sign-in page offers besides the token form. */
export interface OidcOffer {
  /** "Sign in with <name>". */
  name: string;
  /** The last discovery failed: the page says so (the link still tries again). */
  unreachable: boolean;
}

/** The provider could not be reached or answered with something that is not a discovery document. */
export class ProviderUnreachable extends Error {
  override name = "ProviderUnreachable";
}

export interface OidcSignInOptions {
  /** `admin.oidc` as it is now (the config reloads). */
  settings: () => OidcConfig | undefined;
  log: Logger;
  /** After a failed discovery, how long sign-ins are answered with that failure before it is tried again. @defaultValue 3 s */
  retryMs?: number;
  /** A request to the provider that takes longer fails. @defaultValue 5 s */
  timeoutS?: number;
}

interface Discovery {
  /** Which settings it was made with: other settings (a reload) discover again. */
  key: string;
  attempt: Promise<Client.Configuration>;
  state: ProviderState;
  failedAt?: number;
}

/**
 * The console's relying party, on openid-client: discovers the provider
 * (at start-up, so a wrong issuer is logged before anyone signs in, and
 * again after a failure once someone tries), builds the authorization
 * request (code flow, PKCE S256, state and nonce) and redeems the answer
 * (state, PKCE, ID token signature, issuer, audience and nonce checked by
 * the library), returning the ID token's claims merged with userinfo's.
 * Every request to the provider goes through the egress policy.
 */
export class OidcSignIn {
  private discovery?: Discovery;

  constructor(private readonly options: OidcSignInOptions) {}

  /** Discovers now (at start-up): a failure is logged with its cause, and the sign-in page still offers tokens. */
  warmUp(): void {
    if (this.options.settings()) this.configuration().catch(() => undefined);
  }

  /** The provider's state for the sign-in page; undefined when OpenID Connect is not configured. */
  state(): ProviderState | undefined {
    const settings = this.options.settings();
    if (!settings) return undefined;
    return this.discovery?.key === keyOf(settings) ? this.discovery.state : "pending";
  }

  /** Where to send the browser, with the secrets the callback checks its answer against. */
  async authorizationUrl(): Promise<{ url: URL; pending: PendingSignIn }> {
    const [configuration, settings, client] = [await this.configuration(), this.options.settings()!, await openid()];
    const pending: PendingSignIn = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier() };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: settings.redirectUrl,
      scope: settings.requestScopes.join(" "),
      code_challenge: await client.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: "S256",
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url, pending };
  }

  /**
   * Redeems the provider's answer (`query`: the callback's query string)
   * for tokens and returns the person's claims. Throws the library's
   * errors (AuthorizationResponseError, ResponseBodyError, ClientError)
   * for the routes to say in plain words.
   */
  async finish(query: string, pending: PendingSignIn): Promise<Record<string, unknown>> {
    const [configuration, settings, client] = [await this.configuration(), this.options.settings()!, await openid()];
    // The URL the provider was told to send people to, not what this request's Host says (a proxy may stand between).
    const current = new URL(settings.redirectUrl);
    current.search = query;
    const tokens = await client.authorizationCodeGrant(configuration, current, { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true });
    const claims: Record<string, unknown> = { ...tokens.claims() };
    // Many providers put groups (and sometimes the name) in userinfo only; the ID token's subject must match it.
    if (configuration.serverMetadata().userinfo_endpoint && typeof claims.sub === "string") {
      const info = await client.fetchUserInfo(configuration, tokens.access_token, claims.sub);
      for (const [name, value] of Object.entries(info)) if (!(name in claims)) claims[name] = value;
    }
    return claims;
  }

  /** The discovered provider for the current settings: discovered once, again after a reload, retried after a failure. */
  private configuration(): Promise<Client.Configuration> {
    const settings = this.options.settings();
    if (!settings) return Promise.reject(new ProviderUnreachable("OpenID Connect is not configured"));
    const key = keyOf(settings);
    const known = this.discovery;
    const retryMs = this.options.retryMs ?? 3_000;
    if (known && known.key === key && (known.state !== "unreachable" || Date.now() - known.failedAt! < retryMs)) return known.attempt;
    const discovery: Discovery = { key, state: "pending", attempt: this.discover(settings) };
    this.discovery = discovery;
    discovery.attempt.then(
      () => {
        discovery.state = "ready";
        this.options.log.info({ issuer: settings.issuer, provider: settings.name }, "console sign-in: identity provider discovered");
      },
      (err: unknown) => {
        discovery.state = "unreachable";
        discovery.failedAt = Date.now();
        this.options.log.error(
          { issuer: settings.issuer, provider: settings.name, err: describeError(err) },
          `console sign-in with ${settings.name} unavailable: cannot discover the identity provider at ${discoveryUrl(settings.issuer)} (${describeError(err)}); token sign-in still works`,
        );
      },
    );
    return discovery.attempt;
  }

  private async discover(settings: OidcConfig): Promise<Client.Configuration> {
    const client = await openid();
    const auth = settings.clientAuth === "post" ? client.ClientSecretPost(settings.clientSecret) : client.ClientSecretBasic(settings.clientSecret);
    try {
      return await client.discovery(new URL(settings.issuer), settings.clientId, undefined, auth, {
        execute: settings.insecureLoopback ? [client.allowInsecureRequests] : [],
        timeout: this.options.timeoutS ?? 5,
        [client.customFetch]: egressFetch,
      });
    } catch (err) {
      throw new ProviderUnreachable(causeChain(err), { cause: err });
    }
  }
}

/** fetch for openid-client that refuses link-local and metadata addresses, as every request to a configured address does. */
const egressFetch: Client.CustomFetch = async (url, options) => {
  await checkEgressHost(new URL(url));
  return fetch(url, options as RequestInit);
};

/** An error with what caused it ("fetch failed: connect ECONNREFUSED …"): fetch's own message alone says nothing. */
export function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let at: unknown = err, depth = 0; at !== undefined && at !== null && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    const text = describeError(at);
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
    if (!(at instanceof Error)) break;
  }
  return parts.join(": ");
}

function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
}

/** What a discovery depends on; the secret only as a digest, so the key may sit in memory beside logs without being one. */
function keyOf(settings: OidcConfig): string {
  const secret = createHash("sha256").update(settings.clientSecret).digest("hex");
  return JSON.stringify([settings.issuer, settings.clientId, settings.clientAuth, secret, settings.insecureLoopback]);
}
