import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import type { AuditEntry } from "../../src/auth/index.ts";
import { createLogger } from "../../src/core/index.ts";
import type { Incident } from "../../src/status/index.ts";
import { ConsoleClient, cookieAttributes, decodeEntities } from "../helpers/console.ts";
import { listening, signInAtProvider, startOidcProvider, type TestAccount, type TestProvider } from "../helpers/oidc-provider.ts";
import { waitFor } from "../helpers/wait.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * Console sign-in through a real OpenID Connect provider: oidc-provider
 * (the certified Node implementation) on [::1] with its own login and
 * consent pages, the web app on 127.0.0.1 (another site, as in
 * production), sessions and the audit log in a real redis-server. Every
 * step is real HTTP with a cookie jar per site, as a browser without
 * JavaScript would go.
 */

const BOOTSTRAP = "console-oidc-bootstrap-token-0123456789";
const SECRET = "oidc-test-client-secret-never-shown-0123456789";
const ACCOUNTS: Record<string, TestAccount> = {
  ada: { name: "Ada Lovelace", email: "ada@example.com", groups: ["staff", "oncall"] },
  carol: { name: "Carol Reader", groups: ["support"] },
  bob: { name: "Bob Outsider", email: "bob@example.com", groups: ["marketing", "<script>alert(1)</script>"] },
};

const config = (base: string, issuer: string) => `
page: { name: Console, url: "${base}" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
admin:
  oidc:
    name: Test SSO
    issuer: "${issuer}"
    client_id: pulseboard-console
    client_secret: ${SECRET}
    request_scopes: [openid, profile, email, groups]
    scopes: { oncall: [incidents, playbooks], support: [read] }
`;

/** A capturing logger: every JSON line the web app logs. */
function capturedLog(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "debug", pretty: false, destination: { write: (line) => void lines.push(line) } }) };
}

/** No page of the console shows a stack trace or where code lives. */
function assertNoInternals(html: string): void {
  assert.doesNotMatch(html, /\bat \S+ \(|\.ts:\d+|\.js:\d+|node_modules|Error:/, "no stack trace or error dump");
}

describe("console sign-in with OpenID Connect through a real provider (oidc-provider, real HTTP, real redis-server)", { timeout: 90_000 }, () => {
  let provider: TestProvider;
  let rig: WebRig;
  let web: http.Server;
  let base: string;
  const logs = capturedLog();

  const audit = async (): Promise<AuditEntry[]> => {
    const res = await fetch(`${base}/admin/api/audit?limit=200`, { headers: { authorization: `Bearer ${BOOTSTRAP}` } });
    return ((await res.json()) as { entries: AuditEntry[] }).entries;
  };

  before(async () => {
    ({ server: web, base } = await listening("127.0.0.1"));
    provider = await startOidcProvider({ clients: [{ client_id: "pulseboard-console", client_secret: SECRET, redirect_uris: [`${base}/admin/oidc/callback`] }], accounts: ACCOUNTS });
    rig = await startWebRig(config(base, provider.issuer), { tokens: [BOOTSTRAP], log: logs.log });
    web.on("request", rig.app);
  });

  after(async () => {
    web?.closeAllConnections();
    web?.close();
    await provider?.stop();
    await rig?.stop();
  });

  it("offers the provider on the sign-in page, beside the token form, and sends the browser there with state, nonce and PKCE", async () => {
    const client = new ConsoleClient(base);
    const form = await client.get("/admin/login");
    assert.equal(form.status, 200);
    assert.match(form.text, /<a class="button" href="\/admin\/oidc\/start">Sign in with Test SSO<\/a>/);
    assert.match(form.text, /<label for="token">Token<\/label>/, "token sign-in stays");
    const start = await client.get("/admin/oidc/start");
    assert.equal(start.status, 303);
    const to = new URL(start.location!);
    assert.equal(to.origin, provider.issuer);
    assert.equal(to.searchParams.get("client_id"), "pulseboard-console");
    assert.equal(to.searchParams.get("redirect_uri"), `${base}/admin/oidc/callback`, "the default: page.url + /admin/oidc/callback");
    assert.equal(to.searchParams.get("code_challenge_method"), "S256");
    assert.match(to.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.match(to.searchParams.get("state") ?? "", /^[A-Za-z0-9_-]{20,}$/);
    assert.match(to.searchParams.get("nonce") ?? "", /^[A-Za-z0-9_-]{20,}$/);
    assert.equal(to.searchParams.get("scope"), "openid profile email groups");
    const flow = cookieAttributes(start.setCookies, "pb_console_oidc")!;
    assert.ok(flow, "the sign-in in progress has a cookie of its own");
    for (const attribute of ["httponly", "samesite=lax", "path=/admin/oidc"]) assert.ok(flow.includes(attribute), `${attribute} in ${flow.join("; ")}`);
    assert.ok(flow.some((a) => a.startsWith("max-age=")), "short-lived");
    assert.ok(!flow.includes("secure"), "not Secure over plain http");
  });

  it("signs a person of a mapped group in through the provider's login and consent pages, credited by name on the timeline and in the audit log", async () => {
    const client = new ConsoleClient(base);
    const { callback, callbackPath, pages } = await signInAtProvider(client, provider.issuer, "ada");
    assert.equal(pages.length, 2, "the provider's login page, then its consent page");
    assert.match(pages[0]!, /name="login"/);
    assert.match(pages[1]!, /value="consent"/);
    assert.equal(callback.status, 200, callback.text);
    assert.match(decodeEntities(callback.text), /Test SSO signed you in as <strong>Ada Lovelace<\/strong>\. You may: incidents, playbooks\./);
    assert.match(callback.text, /<a class="button" href="\/admin\/incidents">Continue to the console<\/a>/);
    const session = cookieAttributes(callback.setCookies, "pb_console")!;
    for (const attribute of ["httponly", "samesite=strict", "path=/admin"]) assert.ok(session.includes(attribute), `${attribute} in ${session.join("; ")}`);
    assert.equal(client.jar.has("pb_console_oidc"), false, "the sign-in in progress is over: its cookie is dropped");

    const list = await client.get("/admin/incidents");
    assert.equal(list.status, 200);
    assert.match(list.text, /<span class="who">Ada Lovelace <span class="muted">\(incidents, playbooks\)<\/span><\/span>/);
    const composer = await client.formOf("/admin/incidents/new");
    const posted = await client.post("/admin/incidents", { _csrf: composer._csrf, key: composer.key, title: "Chat is slow", status: "investigating", message: "Messages are late.", "component.chat": "degraded_performance", notify: "on" });
    assert.equal(posted.status, 303, posted.text);
    const id = /\/admin\/incidents\/(\w+)\?/.exec(posted.location!)![1]!;
    const incident = ((await (await fetch(`${base}/admin/api/incidents/${id}`, { headers: { authorization: `Bearer ${BOOTSTRAP}` } })).json()) as { incident: Incident }).incident;
    assert.deepEqual(incident.updates.map((u) => u.author), [{ kind: "person", name: "Ada Lovelace" }], "the timeline credits the person");
    assert.match((await client.get(`/admin/incidents/${id}`)).text, /by Ada Lovelace/);

    const entries = await audit();
    const mine = entries.filter((e) => e.actor === "Ada Lovelace");
    assert.ok(mine.some((e) => e.method === "GET" && e.path === "/admin/oidc/callback" && e.status === 200), `the sign-in is in the audit log: ${JSON.stringify(mine)}`);
    assert.ok(mine.some((e) => e.method === "POST" && e.path === "/admin/incidents" && e.status === 303), "and the incident it published");
    assert.ok(mine.every((e) => e.token.startsWith("session:")), "a session of its own: no token behind it");

    const code = new URL(callbackPath, base).searchParams.get("code")!;
    const logged = logs.lines.join("\n");
    assert.match(logged, /"person":"Ada Lovelace".*"msg":"console sign-in"}/);
    for (const secret of [SECRET, code]) assert.ok(!logged.includes(secret), "no log line holds the client secret or the authorization code");
  });

  it("gives a person whose only group maps to read a console that shows everything and changes nothing", async () => {
    const client = new ConsoleClient(base);
    const { callback } = await signInAtProvider(client, provider.issuer, "carol");
    assert.equal(callback.status, 200, callback.text);
    const list = await client.get("/admin/incidents");
    assert.match(list.text, /Carol Reader <span class="muted">\(read\)<\/span>/);
    assert.match(list.text, /can read but not change incidents/);
    const composer = await client.formOf("/admin/incidents/new");
    assert.match(composer.html, /<fieldset class="controls" disabled>/);
    const forged = await client.post("/admin/incidents", { _csrf: composer._csrf, key: composer.key, title: "Forged", status: "investigating", message: "No.", notify: "on" });
    assert.equal(forged.status, 403);
    assert.match(decodeEntities(forged.text), /lacks the "incidents" scope/);
  });

  it("refuses a person in no mapped group with a page saying so and naming their groups, escaped, and records the refusal", async () => {
    const client = new ConsoleClient(base);
    const { callback } = await signInAtProvider(client, provider.issuer, "bob");
    assert.equal(callback.status, 403);
    const text = decodeEntities(callback.text);
    assert.match(text, /Your account is not in a group that may use this console: ask whoever runs this console to give one of your groups access/);
    assert.match(text, /Test SSO signed you in as Bob Outsider, in these groups: marketing, <script>alert\(1\)<\/script>\./);
    assert.ok(!callback.text.includes("<script>alert(1)</script>"), "a group's name is shown escaped");
    assert.match(callback.text, /<a href="\/admin\/login">Back to sign-in<\/a>/);
    assertNoInternals(callback.text);
    assert.equal(client.jar.has("pb_console"), false, "no session");
    const after = await client.get("/admin/incidents");
    assert.equal(after.status, 303);
    assert.equal(after.location, "/admin/login");
    assert.ok((await audit()).some((e) => e.actor === "Bob Outsider" && e.path === "/admin/oidc/callback" && e.status === 403), "the refusal is in the audit log");
  });

  it("refuses an answer from another browser, a replayed one and one with another state, each with a page naming the problem", async () => {
    const ada = new ConsoleClient(base);
    const { callback, callbackPath, flowCookie } = await signInAtProvider(ada, provider.issuer, "ada");
    assert.equal(callback.status, 200);

    // The same answer again, with the cookie it came with the first time (as a copy of the request would): the sign-in it belonged to is used up.
    const replayer = new ConsoleClient(base);
    replayer.jar.set("pb_console_oidc", flowCookie);
    const replay = await replayer.get(callbackPath);
    assert.equal(replay.status, 400, "the same answer twice");
    assert.equal(replayer.jar.has("pb_console"), false);
    assert.match(decodeEntities(replay.text), /does not match a sign-in started in this browser: it has expired \(a sign-in must be finished within 10 minutes\), was already used, or was started in another browser/);

    const elsewhere = new ConsoleClient(base);
    const stolen = await elsewhere.get(callbackPath);
    assert.equal(stolen.status, 400, "an answer taken to another browser");
    assert.equal(elsewhere.jar.has("pb_console"), false);

    const tampered = new ConsoleClient(base);
    const start = await tampered.get("/admin/oidc/start");
    const state = new URL(start.location!).searchParams.get("state")!;
    const wrong = await tampered.get(`/admin/oidc/callback?code=abc&state=${state.slice(1)}x`);
    assert.equal(wrong.status, 400);
    assert.match(decodeEntities(wrong.text), /does not belong to the sign-in this browser started \(its state does not match\), so you are not signed in/);
    assert.equal(tampered.jar.has("pb_console"), false);
    for (const page of [replay.text, stolen.text, wrong.text]) assertNoInternals(page);
  });

  it("says so when the person cancels at the provider, and when the provider refuses the console's client secret", async () => {
    const cancelled = await signInAtProvider(new ConsoleClient(base), provider.issuer, "ada", { cancel: true });
    assert.equal(cancelled.callback.status, 401);
    assert.match(decodeEntities(cancelled.callback.text), /Test SSO did not sign you in: End-User aborted interaction \(access_denied\)\./);
    assertNoInternals(cancelled.callback.text);

    const oidc = rig.config.admin.oidc!;
    oidc.clientSecret = "a-wrong-secret-a-wrong-secret-0123456789";
    try {
      const client = new ConsoleClient(base);
      const { callback } = await signInAtProvider(client, provider.issuer, "ada");
      assert.equal(callback.status, 502, logs.lines.filter((l) => l.includes("failed")).join("\n"));
      assert.match(decodeEntities(callback.text), /Test SSO refused to finish the sign-in: .*\(invalid_client\)\. The console's client id or secret is not the one the provider knows \(admin\.oidc\)\./);
      assertNoInternals(callback.text);
      assert.equal(client.jar.has("pb_console"), false);
    } finally {
      oidc.clientSecret = SECRET;
    }
    assert.ok(!logs.lines.join("\n").includes("a-wrong-secret"), "not even a wrong secret is logged");
  });

  // Last: it uses up this address's sign-in starts.
  it("limits how many sign-ins one address may start, since each is stored before anyone is known", async () => {
    const client = new ConsoleClient(base);
    const statuses: number[] = [];
    for (let i = 0; i < 70; i++) statuses.push((await client.get("/admin/oidc/start")).status);
    // The tests before this one started a few from the same address; the bucket refills at one a second.
    const first = statuses.indexOf(429);
    assert.ok(first >= 30 && first <= 60, `a burst of up to 60 goes through, then 429 (first at ${first}: ${statuses.join(",")})`);
    assert.ok(statuses.slice(first).filter((s) => s !== 429).length <= 1, `then refused, bar one refilled: ${statuses.join(",")}`);
    const refused = await client.get("/admin/oidc/start");
    assert.equal(refused.status, 429);
    assert.match(decodeEntities(refused.text), /Too many sign-ins with Test SSO were started from your address in a short time\. Wait a minute and try again\./);
  });
});

describe("console sign-in while the identity provider is down (real HTTP, real redis-server)", { timeout: 60_000 }, () => {
  let provider: TestProvider | undefined;
  let rig: WebRig;
  let web: http.Server;
  let base: string;
  let issuer: string;
  const logs = capturedLog();

  before(async () => {
    ({ server: web, base } = await listening("127.0.0.1"));
    // A port nothing listens on (yet): the provider is down when the web role starts.
    const reserved = await listening("::1");
    issuer = reserved.base;
    await new Promise((resolve) => reserved.server.close(resolve));
    rig = await startWebRig(config(base, issuer), { tokens: [BOOTSTRAP], log: logs.log });
    web.on("request", rig.app);
  });

  after(async () => {
    web?.closeAllConnections();
    web?.close();
    await provider?.stop();
    await rig?.stop();
  });

  it("logs the discovery failure with its cause, keeps token sign-in, says the provider cannot be reached, and signs in once it is back", async () => {
    const line = await waitFor("the discovery failure in the log", () => logs.lines.find((l) => l.includes("cannot discover the identity provider")), 10_000, 20);
    const entry = JSON.parse(line) as { level: string; msg: string; err: string };
    assert.equal(entry.level, "error");
    assert.match(entry.msg, new RegExp(`console sign-in with Test SSO unavailable: cannot discover the identity provider at ${issuer.replace(/[[\]]/g, "\\$&")}/\\.well-known/openid-configuration \\(fetch failed: .*ECONNREFUSED.*\\); token sign-in still works`));

    const client = new ConsoleClient(base);
    const form = await client.get("/admin/login");
    assert.equal(form.status, 200);
    assert.match(form.text, /<label for="token">Token<\/label>/);
    assert.match(form.text, /Sign in with Test SSO<\/a><p class="note">Test SSO could not be reached a moment ago/);
    const down = await client.get("/admin/oidc/start");
    assert.equal(down.status, 503);
    assert.match(decodeEntities(down.text), /Test SSO cannot be reached right now, so signing in with it is not possible\..*Sign in with a token, or try again in a minute\./s);
    assertNoInternals(down.text);
    assert.ok(!down.text.includes(new URL(issuer).port), "the page names no address or port");
    await client.signIn(BOOTSTRAP);

    provider = await startOidcProvider({ port: Number(new URL(issuer).port), clients: [{ client_id: "pulseboard-console", client_secret: SECRET, redirect_uris: [`${base}/admin/oidc/callback`] }], accounts: ACCOUNTS });
    const person = new ConsoleClient(base);
    const started = Date.now();
    await waitFor("the sign-in link to reach the provider again", async () => (await person.get("/admin/oidc/start")).status === 303, 15_000, 250);
    assert.ok(Date.now() - started < 15_000);
    const { callback } = await signInAtProvider(person, provider.issuer, "ada");
    assert.equal(callback.status, 200, callback.text);
    assert.ok(!(await new ConsoleClient(base).get("/admin/login")).text.includes("could not be reached"), "the note is gone");
  });
});
