import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConsoleClient, cookieAttributes, csrfOf, issuesOf } from "../helpers/console.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * The console's sign-in and sessions on real parts: the web app over real
 * HTTP (and HTTPS with a certificate made here), sessions in a real
 * redis-server, tokens made through the admin API.
 */

const BOOTSTRAP = "console-session-bootstrap-token-0123456789";
const CONFIG = `
page: { name: Console, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
admin: { session_idle: 2m }
`;
/** Behind a proxy: X-Forwarded-For and -Proto are trusted, and three failed sign-ins lock an address out. */
const PROXIED_CONFIG = `
page: { name: Console, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
web: { trust_proxy: true }
admin: { failed_logins: { max: 3, per: 1m } }
`;

function listen(server: http.Server | https.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

describe("console sign-in, sessions, CSRF and scopes (real redis-server, real HTTP)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let proxied: WebRig;
  let server: http.Server;
  let proxiedServer: http.Server;
  let base: string;
  let proxiedBase: string;

  const api = (method: string, pathname: string, body?: unknown) =>
    fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${BOOTSTRAP}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const createToken = async (name: string, scopes: string[]): Promise<{ id: string; token: string }> => {
    const res = await api("POST", "/tokens", { name, scopes });
    assert.equal(res.status, 201);
    return (await res.json()) as { id: string; token: string };
  };
  const sessionKeys = () => rig.connection.keys(`${rig.config.redis.prefix}:console:session:*`);
  const compose = (client: ConsoleClient, fields: Record<string, string>) => client.post("/admin/incidents", { title: "Chat is slow", status: "investigating", message: "Messages are late.", "component.chat": "degraded_performance", notify: "on", ...fields });

  before(async () => {
    rig = await startWebRig(CONFIG, { tokens: [BOOTSTRAP] });
    server = http.createServer(rig.app);
    base = `http://127.0.0.1:${await listen(server)}`;
    proxied = await startWebRig(PROXIED_CONFIG, { tokens: [BOOTSTRAP] });
    proxiedServer = http.createServer(proxied.app);
    proxiedBase = `http://127.0.0.1:${await listen(proxiedServer)}`;
  });

  after(async () => {
    server?.close();
    proxiedServer?.close();
    await rig?.stop();
    await proxied?.stop();
  });

  it("sets the session cookie HttpOnly, SameSite=Strict, Path=/admin, and not Secure over plain http", async () => {
    const client = new ConsoleClient(base);
    const form = await client.get("/admin/login");
    assert.equal(form.status, 200);
    assert.match(form.text, /<label for="token">Token<\/label>/);
    assert.match(form.text, /<button type="submit">Sign in<\/button>/);
    const loginCookie = cookieAttributes(form.setCookies, "pb_console_login")!;
    assert.ok(loginCookie.includes("httponly") && loginCookie.includes("samesite=strict") && !loginCookie.includes("secure"), loginCookie.join("; "));
    const signIn = await client.post("/admin/login", { _csrf: csrfOf(form.text), token: BOOTSTRAP });
    assert.equal(signIn.status, 303);
    const session = cookieAttributes(signIn.setCookies, "pb_console")!;
    assert.ok(session, "a session cookie was set");
    assert.deepEqual(session.filter((a) => !a.startsWith("expires")).sort(), ["httponly", "path=/admin", "samesite=strict"]);
    assert.equal((await client.get("/admin/incidents")).status, 200);
  });

  it("sets it Secure over https, and behind a trusted proxy that says https; an untrusted X-Forwarded-Proto changes nothing", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-console-tls-"));
    try {
      const key = path.join(dir, "key.pem");
      const cert = path.join(dir, "cert.pem");
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
      const tls = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, rig.app);
      const port = await listen(tls);
      try {
        const ca = readFileSync(cert);
        const request = (pathname: string, method: string, headers: Record<string, string>, body?: string) =>
          new Promise<{ status: number; setCookies: string[]; text: string }>((resolve, reject) => {
            const req = https.request({ host: "127.0.0.1", port, path: pathname, method, ca, headers }, (res) => {
              let text = "";
              res.on("data", (chunk: Buffer) => (text += chunk.toString()));
              res.on("end", () => resolve({ status: res.statusCode!, setCookies: ([] as string[]).concat(res.headers["set-cookie"] ?? []), text }));
            });
            req.on("error", reject);
            req.end(body);
          });
        const form = await request("/admin/login", "GET", {});
        assert.ok(cookieAttributes(form.setCookies, "pb_console_login")!.includes("secure"), "the sign-in form's cookie is Secure over https");
        const loginCookie = form.setCookies[0]!.split(";")[0]!;
        const signIn = await request("/admin/login", "POST", { cookie: loginCookie, "content-type": "application/x-www-form-urlencoded" }, new URLSearchParams({ _csrf: csrfOf(form.text), token: BOOTSTRAP }).toString());
        assert.equal(signIn.status, 303, signIn.text);
        const attributes = cookieAttributes(signIn.setCookies, "pb_console")!;
        assert.deepEqual(attributes.sort(), ["httponly", "path=/admin", "samesite=strict", "secure"]);
      } finally {
        tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const behindProxy = new ConsoleClient(proxiedBase, { "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.1" });
    const viaProxy = await behindProxy.signInAnswer(BOOTSTRAP);
    assert.ok(cookieAttributes(viaProxy.setCookies, "pb_console")!.includes("secure"), "web.trust_proxy: X-Forwarded-Proto https makes it Secure");
    const spoofed = await new ConsoleClient(base, { "x-forwarded-proto": "https" }).signInAnswer(BOOTSTRAP);
    assert.equal(spoofed.status, 303);
    assert.ok(!cookieAttributes(spoofed.setCookies, "pb_console")!.includes("secure"), "without trust_proxy the header is anyone's to send");
  });

  it("keeps sessions server-side as hashes with admin.session_idle's expiry, moved on by every request", async () => {
    const client = new ConsoleClient(base);
    await client.signIn(BOOTSTRAP);
    const secret = client.jar.get("pb_console")!;
    const keys = await sessionKeys();
    assert.ok(keys.length >= 1);
    for (const key of keys) {
      assert.ok(!key.includes(secret), "the cookie's value is not a key");
      const stored = (await rig.connection.get(key))!;
      assert.ok(!stored.includes(secret) && !stored.includes(BOOTSTRAP), "neither the cookie's value nor the token is stored");
    }
    const mine = keys.find((k) => k.endsWith(createHashHex(secret)))!;
    assert.ok(mine, "the session is keyed by the sha256 of its cookie");
    const ttl = await rig.connection.pttl(mine);
    assert.ok(ttl > 100_000 && ttl <= 120_000, `idle expiry of 2m (pttl ${ttl})`);
    await rig.connection.pexpire(mine, 5_000);
    assert.equal((await client.get("/admin/incidents")).status, 200);
    assert.ok((await rig.connection.pttl(mine)) > 100_000, "a request moves the idle expiry on");
    await rig.connection.del(mine);
    const gone = await client.get("/admin/incidents");
    assert.equal(gone.status, 303);
    assert.equal(gone.location, "/admin/login?m=expired");
    assert.ok(!client.jar.has("pb_console"), "an ended session's cookie is dropped");
    assert.match((await client.get("/admin/login?m=expired")).text, /Your session ended/);
  });

  it("signing out revokes the session on the server: the old cookie no longer works", async () => {
    const client = new ConsoleClient(base);
    await client.signIn(BOOTSTRAP);
    const oldCookie = client.jar.get("pb_console")!;
    const { _csrf } = await client.formOf("/admin/incidents");
    const out = await client.post("/admin/logout", { _csrf });
    assert.equal(out.status, 303);
    assert.equal(out.location, "/admin/login?m=out");
    assert.equal(await rig.connection.exists(`${rig.config.redis.prefix}:console:session:${createHashHex(oldCookie)}`), 0);
    const replay = new ConsoleClient(base);
    replay.jar.set("pb_console", oldCookie);
    const page = await replay.get("/admin/incidents");
    assert.equal(page.status, 303, "the old cookie is worth nothing");
    assert.equal(page.location, "/admin/login?m=expired");
    const before = (await rig.status.store.recentIncidents(100)).length;
    const { _csrf: csrf2 } = await (async () => {
      const fresh = new ConsoleClient(base);
      await fresh.signIn(BOOTSTRAP);
      return fresh.formOf("/admin/incidents/new");
    })();
    replay.jar.set("pb_console", oldCookie);
    assert.equal((await compose(replay, { _csrf: csrf2 })).status, 303);
    assert.equal((await rig.status.store.recentIncidents(100)).length, before, "a POST with the old cookie stores nothing");
  });

  it("a revoked token's session is signed out at its next request, with a plain message", async () => {
    const ops = await createToken("ops-bot", ["incidents"]);
    const client = new ConsoleClient(base);
    await client.signIn(ops.token);
    assert.equal((await client.get("/admin/incidents")).status, 200);
    assert.equal((await api("DELETE", `/tokens/${ops.id}`)).status, 200);
    const next = await client.get("/admin/incidents");
    assert.equal(next.status, 303);
    assert.equal(next.location, "/admin/login?m=revoked");
    assert.ok(cookieAttributes(next.setCookies, "pb_console"), "the cookie is cleared");
    const login = await client.get(next.location!);
    assert.match(login.text, /You were signed out: the token this session signed in with has been revoked\./);
    const again = await client.signInAnswer(ops.token);
    assert.equal(again.status, 401);
    assert.deepEqual(issuesOf(again.text), ["Token: not a valid admin token (unknown, revoked or mistyped)"]);
  });

  it("refuses a POST without the session's CSRF token (or with another session's) with 403, and stores nothing", async () => {
    const client = new ConsoleClient(base);
    await client.signIn(BOOTSTRAP);
    const other = new ConsoleClient(base);
    await other.signIn(BOOTSTRAP);
    const { _csrf: othersCsrf } = await other.formOf("/admin/incidents/new");
    const before = (await rig.status.store.recentIncidents(100)).length;
    for (const fields of [{}, { _csrf: "" }, { _csrf: othersCsrf }, { _csrf: "x".repeat(43) }] as Record<string, string>[]) {
      const answer = await compose(client, fields);
      assert.equal(answer.status, 403, JSON.stringify(fields));
      assert.match(answer.text, /<h1>Form refused<\/h1>/);
      assert.match(answer.text, /CSRF token is missing or does not belong to your session, so nothing was changed/);
    }
    const json = await client.send("/admin/incidents", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title: "x", message: "y" }) });
    assert.equal(json.status, 403, "JSON where a form belongs carries no CSRF token");
    const { _csrf } = await client.formOf("/admin/incidents");
    assert.equal((await client.post("/admin/logout", {})).status, 403, "signing out needs it too");
    assert.equal((await client.get("/admin/incidents")).status, 200, "still signed in");
    assert.equal((await client.post("/admin/logout", { _csrf })).status, 303);
    assert.equal((await rig.status.store.recentIncidents(100)).length, before);
  });

  it("a read token sees every page with its controls disabled; a forged POST with its session is 403 naming the scope", async () => {
    const reader = await createToken("viewer", ["read"]);
    const { incident } = await (await api("POST", "/incidents", { name: "Q&A is down", body: "Questions fail.", components: { qa: "major_outage" } })).json() as { incident: { id: string } };
    const client = new ConsoleClient(base);
    await client.signIn(reader.token);
    for (const pathname of ["/admin/incidents/new", `/admin/incidents/${incident.id}`]) {
      const page = await client.get(pathname);
      assert.equal(page.status, 200);
      const fieldsets = [...page.text.matchAll(/<fieldset class="controls"( disabled)?>/g)];
      assert.ok(fieldsets.length >= 1 && fieldsets.every((m) => m[1] === " disabled"), `${pathname}: every form's controls are disabled`);
      assert.match(page.text, /needs the <code>incidents<\/code> scope/);
    }
    const before = await rig.status.store.incident(incident.id);
    const audit = async () => (await (await api("GET", "/audit?limit=1000")).json() as { entries: { actor: string }[] }).entries.filter((e) => e.actor === "viewer").length;
    const audited = await audit();
    const { _csrf, key } = await client.formOf("/admin/incidents/new");
    const forged = [
      await compose(client, { _csrf, key }),
      await client.post(`/admin/incidents/${incident.id}/updates`, { _csrf, status: "resolved", message: "Fixed (not really).", notify: "on" }),
      await client.post(`/admin/incidents/${incident.id}/resolve`, { _csrf, message: "", notify: "on" }),
    ];
    for (const answer of forged) {
      assert.equal(answer.status, 403);
      assert.match(answer.text, /Nothing was changed: the token &quot;viewer&quot; lacks the &quot;incidents&quot; scope that POST \/admin\/api\/incidents(\/\w+\/(updates|resolve))? needs \(it has read\)/);
    }
    assert.deepEqual(await rig.status.store.incident(incident.id), before, "the incident is as it was");
    assert.equal((await rig.status.store.recentIncidents(100)).filter((i) => i.name === "Chat is slow" && i.updates[0]!.author.name === "viewer").length, 0);
    assert.equal(await audit(), audited, "a refused write is not an action in the audit log, as with the API");
  });

  it("credits writes to the token's name, on the timeline and in the admin API's audit log", async () => {
    const alice = await createToken("alice", ["incidents"]);
    const client = new ConsoleClient(base);
    await client.signIn(alice.token);
    const { _csrf, key } = await client.formOf("/admin/incidents/new");
    const published = await compose(client, { _csrf, key, title: "Alice's incident" });
    assert.equal(published.status, 303);
    const id = /^\/admin\/incidents\/(\w+)\?done=published$/.exec(published.location ?? "")?.[1];
    assert.ok(id, published.location ?? "no location");
    const incident = (await rig.status.store.incident(id))!;
    assert.deepEqual(incident.updates[0]!.author, { kind: "person", name: "alice" });
    const page = await client.get(published.location!);
    assert.match(page.text, /<p class="flash" role="status">Published\.<\/p>/);
    assert.match(page.text, /by alice/);
    const entries = ((await (await api("GET", "/audit?limit=50")).json()) as { entries: { actor: string; token: string; method: string; path: string; status: number | null }[] }).entries;
    const entry = entries.find((e) => e.actor === "alice" && e.path === "/admin/incidents");
    assert.deepEqual(entry && { ...entry, at: undefined, id: undefined }, { at: undefined, id: undefined, actor: "alice", token: alice.id, method: "POST", path: "/admin/incidents", status: 303 });
    assert.ok(entries.some((e) => e.actor === "alice" && e.path === "/admin/login" && e.status === 303), "the sign-in is on record too");
    assert.ok(!JSON.stringify(entries).includes(alice.token.split(".")[1]!), "never the token");
    // The same form sent twice (a double click) opens one incident.
    assert.equal((await compose(client, { _csrf, key, title: "Alice's incident" })).location, published.location);
    assert.equal((await rig.status.store.recentIncidents(100)).filter((i) => i.name === "Alice's incident").length, 1);
  });

  it("refuses tokens that cannot use the admin API, and applies the admin API's failed-login limit to the form", async () => {
    const agent = await (async () => {
      const res = await fetch(`${proxiedBase}/admin/api/tokens`, { method: "POST", headers: { authorization: `Bearer ${BOOTSTRAP}`, "content-type": "application/json", "x-forwarded-for": "198.51.100.2" }, body: JSON.stringify({ name: "agent", scopes: ["agent:local"] }) });
      return ((await res.json()) as { token: string }).token;
    })();
    const address = { "x-forwarded-for": "203.0.113.9" };
    const client = new ConsoleClient(proxiedBase, address);
    assert.equal((await client.signInAnswer(agent)).status, 401, "an agent's token is good for nothing else");
    assert.equal((await client.signInAnswer("pb_aaaaaaaaaaaa.wrong")).status, 401);
    assert.equal((await client.signInAnswer("<script>alert(1)</script>")).status, 401);
    const locked = await client.signInAnswer(BOOTSTRAP);
    assert.equal(locked.status, 429, "three failures (admin.failed_logins.max) lock the address out, even with a good token");
    assert.match(issuesOf(locked.text)[0] ?? "", /^Token: too many failed sign-ins from this address; try again in \d+ s$/);
    const bearer = await fetch(`${proxiedBase}/admin/api/incidents`, { headers: { authorization: `Bearer ${BOOTSTRAP}`, ...address } });
    assert.equal(bearer.status, 429, "the form and the API share the limit");
    assert.equal((await new ConsoleClient(proxiedBase, { "x-forwarded-for": "203.0.113.10" }).signInAnswer(BOOTSTRAP)).status, 303, "another address is not held back");
  });

  it("refuses a sign-in whose form did not come from the sign-in page (login CSRF)", async () => {
    const client = new ConsoleClient(base);
    const form = await client.get("/admin/login");
    client.jar.delete("pb_console_login");
    const noCookie = await client.post("/admin/login", { _csrf: csrfOf(form.text), token: BOOTSTRAP });
    assert.equal(noCookie.status, 403);
    assert.match(issuesOf(noCookie.text)[0] ?? "", /CSRF token is missing or wrong/);
    assert.equal(cookieAttributes(noCookie.setCookies, "pb_console"), undefined, "no session");
    const other = await client.get("/admin/login");
    const wrong = await client.post("/admin/login", { _csrf: "y".repeat(43), token: BOOTSTRAP });
    assert.equal(wrong.status, 403, other.status.toString());
  });
});

function createHashHex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
