import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { type JWK } from "oidc-provider";
import { ConsoleClient, type ConsoleAnswer } from "./console.ts";

/** A person the test provider knows: what its claims say of them. */
export interface TestAccount {
  name?: string;
  email?: string;
  groups?: string[];
}

export interface TestClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
}

/** A real OpenID Connect provider (oidc-provider, the certified Node implementation) on a loopback port. */
export interface TestProvider {
  issuer: string;
  stop(): Promise<void>;
}

/** A server listening on a free port of `host` with no handler yet, so its URL is known before what serves it is built. */
export async function listening(host: "127.0.0.1" | "::1", port = 0): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, host, () => resolve()));
  const { port: bound } = server.address() as AddressInfo;
  return { server, base: host === "::1" ? `http://[::1]:${bound}` : `http://${host}:${bound}` };
}

/**
 * Starts oidc-provider with its development login and consent pages (any
 * password; the login names the account), `clients`, and `accounts` keyed
 * by login. Groups are a claim of a `groups` scope, so (as with many real
 * providers) they come from userinfo, not the ID token.
 */
export async function startOidcProvider(options: { host?: "127.0.0.1" | "::1"; port?: number; clients: TestClient[]; accounts: Record<string, TestAccount> }): Promise<TestProvider> {
  const { server, base } = await listening(options.host ?? "::1", options.port);
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const provider = new Provider(base, {
    clients: options.clients.map((c) => ({ ...c, grant_types: ["authorization_code"], response_types: ["code"] })),
    findAccount: (_ctx, sub) => {
      const account = options.accounts[sub];
      return account ? { accountId: sub, claims: () => ({ sub, ...account }) } : undefined;
    },
    claims: { openid: ["sub"], profile: ["name"], email: ["email"], groups: ["groups"] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    jwks: { keys: [{ ...(privateKey.export({ format: "jwk" }) as JWK), alg: "RS256", use: "sig", kid: "test" }] },
  });
  server.on("request", provider.callback());
  return {
    issuer: base,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A form on a page: where it posts and its hidden fields. */
function formOf(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  assert.ok(action, `a page of the provider with a form:\n${html.slice(0, 500)}`);
  const fields: Record<string, string> = {};
  for (const input of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[input[1]!] = input[2]!;
  return { action: action.replace(/&amp;/g, "&"), fields };
}

/**
 * Signs `login` in as a browser without JavaScript would: the console's
 * "Sign in with …" link, the provider's login page (any password) and its
 * consent page, every redirect followed between the two sites with a
 * cookie jar each, until the provider sends the browser back to the
 * console; with `cancel`, presses the provider's Cancel instead. Returns
 * the console's answer to the callback, its path, the sign-in's cookie as
 * it went with it, and the provider's pages.
 */
export async function signInAtProvider(consoleClient: ConsoleClient, issuer: string, login: string, options: { cancel?: boolean } = {}): Promise<{ callback: ConsoleAnswer; callbackPath: string; flowCookie: string; pages: string[] }> {
  const providerClient = new ConsoleClient(issuer);
  const pages: string[] = [];
  let answer = await consoleClient.get("/admin/oidc/start");
  assert.equal(answer.status, 303, `the sign-in link sends the browser to the provider: ${answer.text.slice(0, 300)}`);
  for (let hop = 0; hop < 20; hop++) {
    if (answer.status === 200 && /<form/.test(answer.text)) {
      pages.push(answer.text);
      const form = formOf(answer.text);
      if (options.cancel) {
        const abort = /href="([^"]*\/abort)"/.exec(answer.text)?.[1];
        assert.ok(abort, "the provider's page has a Cancel link");
        answer = await providerClient.get(new URL(abort, issuer).pathname);
        continue;
      }
      answer = await providerClient.post(new URL(form.action, issuer).pathname, form.fields.prompt === "login" ? { ...form.fields, login, password: "any password" } : form.fields);
      continue;
    }
    assert.ok(answer.status >= 300 && answer.status < 400 && answer.location, `a redirect on the way (got ${answer.status}: ${answer.text.slice(0, 300)})`);
    const next = new URL(answer.location, issuer);
    const consoleBase = new URL(consoleClient.base);
    if (next.origin === consoleBase.origin) {
      const callbackPath = next.pathname + next.search;
      const flowCookie = consoleClient.jar.get("pb_console_oidc") ?? "";
      return { callback: await consoleClient.get(callbackPath), callbackPath, flowCookie, pages };
    }
    answer = await providerClient.get(next.pathname + next.search);
  }
  assert.fail("the sign-in did not come back to the console within 20 steps");
}
