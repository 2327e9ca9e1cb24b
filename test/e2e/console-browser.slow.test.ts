import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page } from "playwright-core";
import { freePort } from "../../src/core/index.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { ARTIFACTS, launchChromium, openPage, signInWithToken, startRole, stopRole, type PageOptions } from "../helpers/browser.ts";

const TOKEN = "console-browser-admin-token-0123456789";

interface Hook {
  incident?: { id: string; incident_updates: { body: string }[] };
  subscription_confirmation?: { confirm_url: string };
}



describe("operator console in real headless Chromium (slow: web and worker roles from the CLI, real redis-server)", { timeout: 240_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let web: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  let subscriber: HttpReceiver;
  const output: string[] = [];

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const hooks = () => subscriber.requests.map((r) => r.json as Hook);
  const postedBodies = (incident: string) => hooks().filter((h) => h.incident?.id === incident).map((h) => h.incident!.incident_updates[0]!.body);

  const open = (options: PageOptions = {}) => openPage(browser, options);

  const signIn = (page: Page, token: string) => signInWithToken(page, base, token);

  before(async () => {
    redis = await startRedis();
    subscriber = await HttpReceiver.start({ status: 200, body: "ok" });
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-console-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}" }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime }
  - { id: chat, name: Chat, group: Realtime }
  - { id: qa, name: Q&A, group: Realtime }
  - { id: cache, name: Cache, group: Platform }
notifications: { retry_base: 100ms, retry_max: 500ms }
subscriptions: { rate_limit: { requests: 1000, per: 1m } }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" };
    delete env.CACHE_REDIS_URL;
    web = startRole("web", env, output);
    worker = startRole("worker", env, output);
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    // A real webhook subscriber, confirmed through its link, as a customer's receiver would be.
    const subscribe = await fetch(`${base}/subscriptions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "webhook", endpoint: subscriber.url("/statuspage") }) });
    assert.equal(subscribe.status, 202);
    const confirmation = await waitFor("the subscriber's confirmation request (the worker role)", () => hooks().find((h) => h.subscription_confirmation), 30_000, 50);
    assert.equal((await fetch(confirmation.subscription_confirmation!.confirm_url, { headers: { accept: "application/json" } })).status, 200);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await Promise.all([stopRole(web), stopRole(worker)]);
    await subscriber?.stop();
    await redis?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("signs in with the bootstrap token, publishes an incident for Chat that the page and the API show within 2 s, posts an update that does not notify, resolves", async (t) => {
    const { context, page, problems } = await open();
    await signIn(page, TOKEN);
    await page.getByRole("link", { name: "New incident" }).click();
    await page.waitForURL(/\/admin\/incidents\/new$/);
    await page.getByLabel("Title").fill("Chat messages delayed");
    await page.getByLabel("Status").selectOption("investigating");
    await page.getByLabel("Message").fill("Messages take up to 30 s to arrive. We are investigating.");
    await page.getByLabel("Chat", { exact: true }).selectOption("partial_outage");
    assert.equal(await page.getByLabel("Q&A").inputValue(), "none", "other components start as not affected");
    assert.equal(await page.getByLabel("Notify subscribers").isChecked(), true, "subscribers are notified unless unticked");
    const clicked = Date.now();
    await page.getByRole("button", { name: "Publish" }).click();
    await page.waitForURL(/\/admin\/incidents\/\w+\?done=published$/);
    const id = /\/admin\/incidents\/(\w+)\?/.exec(page.url())![1]!;
    await waitFor("the incident on the public page and in incidents.json", async () => {
      const [html, json] = await Promise.all([fetch(`${base}/`).then((r) => r.text()), fetch(`${base}/api/v2/incidents.json`).then((r) => r.json() as Promise<{ incidents: { id: string; components: { id: string; status: string }[] }[] }>)]);
      const listed = json.incidents.find((i) => i.id === id);
      return html.includes("Chat messages delayed") && listed?.components.some((c) => c.id === "chat" && c.status === "partial_outage");
    }, 5_000, 25);
    const shownAfterMs = Date.now() - clicked;
    t.diagnostic(`public page and incidents.json showed the incident ${shownAfterMs} ms after Publish was clicked`);
    assert.ok(shownAfterMs <= 2_000, `public within 2 s of Publish (took ${shownAfterMs} ms)`);
    await waitFor("the opening at the webhook subscriber", () => postedBodies(id).length === 1, 15_000, 50);

    const update = page.locator("form", { has: page.getByRole("button", { name: "Post update" }) });
    await update.getByLabel("Status").selectOption("identified");
    await update.getByLabel("Message").fill("We found a stuck consumer and are restarting it.");
    await update.getByLabel("Notify subscribers").uncheck();
    await update.getByRole("button", { name: "Post update" }).click();
    await page.locator(".flash", { hasText: "Update posted." }).waitFor();
    const oncall = page.locator("section", { has: page.getByRole("heading", { name: "On-call timeline" }) });
    await oncall.locator(".update", { hasText: "We found a stuck consumer" }).locator(".tag", { hasText: "not sent to subscribers" }).waitFor();
    assert.match((await page.locator("section", { has: page.getByRole("heading", { name: "Public timeline" }) }).textContent()) ?? "", /We found a stuck consumer/, "the quiet update is public");

    const resolve = page.locator("form", { has: page.getByRole("button", { name: "Resolve" }) });
    await resolve.getByLabel("Message").fill("Messages arrive on time again.");
    await resolve.getByRole("button", { name: "Resolve" }).click();
    await page.locator(".flash", { hasText: "Incident resolved." }).waitFor();
    // A subscriber's posts of one incident arrive in order: once the resolution is there, the quiet update would have been too.
    await waitFor("the resolution at the webhook subscriber", () => postedBodies(id).includes("Messages arrive on time again."), 15_000, 50);
    assert.deepEqual(postedBodies(id), ["Messages take up to 30 s to arrive. We are investigating.", "Messages arrive on time again."]);
    const incident = (await api("GET", `/incidents/${id}`)).body.incident as { status: string; updates: { author: { name: string } }[] };
    assert.equal(incident.status, "resolved");
    assert.deepEqual(incident.updates.map((u) => u.author.name), ["admin", "admin", "admin"], "credited to the token's name");
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
    await context.close();
  });

  it("a read token sees every control disabled, and a forged POST with its session is 403; a POST without the CSRF token is 403", async () => {
    const reader = (await api("POST", "/tokens", { name: "viewer", scopes: ["read"] })).body as { token: string };
    const opened = (await api("POST", "/incidents", { name: "Q&A questions delayed", body: "Questions appear late.", components: { qa: "degraded_performance" } })).body.incident as { id: string };
    const { context, page, problems } = await open();
    await signIn(page, reader.token);
    for (const pathname of ["/admin/incidents/new", `/admin/incidents/${opened.id}`]) {
      await page.goto(`${base}${pathname}`);
      const controls = page.locator("main form").locator("input:not([type=hidden]), select, textarea, button");
      const count = await controls.count();
      assert.ok(count >= 5, `${pathname} has its controls (${count})`);
      for (let i = 0; i < count; i++) assert.equal(await controls.nth(i).isDisabled(), true, `${pathname}: control ${i} is disabled`);
      assert.equal(await page.getByRole("button", { name: "Sign out" }).isEnabled(), true, "signing out stays possible");
    }
    const csrf = await page.locator('form[action="/admin/incidents/' + opened.id + '/updates"] input[name="_csrf"]').getAttribute("value");
    const forged = await context.request.post(`${base}/admin/incidents/${opened.id}/resolve`, { form: { _csrf: csrf!, message: "Forged.", notify: "on" }, maxRedirects: 0 });
    assert.equal(forged.status(), 403);
    assert.match(await forged.text(), /lacks the &quot;incidents&quot; scope/);
    assert.equal(((await api("GET", `/incidents/${opened.id}`)).body.incident as { status: string }).status, "investigating", "nothing changed");
    await context.close();

    const admin = await open();
    await signIn(admin.page, TOKEN);
    const noCsrf = await admin.context.request.post(`${base}/admin/incidents/${opened.id}/resolve`, { form: { message: "No token.", notify: "on" }, maxRedirects: 0 });
    assert.equal(noCsrf.status(), 403);
    assert.match(await noCsrf.text(), /CSRF token is missing/);
    assert.equal(((await api("GET", `/incidents/${opened.id}`)).body.incident as { status: string }).status, "investigating", "nothing changed");
    assert.deepEqual([...problems, ...admin.problems], []);
    await admin.context.close();
  });

  it("a revoked token's session is signed out at its next request; signing out ends the session on the server", async () => {
    const ops = (await api("POST", "/tokens", { name: "ops", scopes: ["incidents"] })).body as { id: string; token: string };
    const { context, page } = await open();
    await signIn(page, ops.token);
    assert.equal((await api("DELETE", `/tokens/${ops.id}`)).status, 200);
    await page.reload();
    await page.waitForURL(/\/admin\/login\?m=revoked$/);
    assert.match((await page.locator("main").textContent()) ?? "", /You were signed out: the token this session signed in with has been revoked\./);
    await context.close();

    const admin = await open();
    await signIn(admin.page, TOKEN);
    const cookie = (await admin.context.cookies()).find((c) => c.name === "pb_console")!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.secure, false, "plain http here");
    await admin.page.getByRole("button", { name: "Sign out" }).click();
    await admin.page.waitForURL(/\/admin\/login\?m=out$/);
    const replayed = await fetch(`${base}/admin/incidents`, { headers: { cookie: `pb_console=${cookie.value}` }, redirect: "manual" });
    assert.equal(replayed.status, 303, "the old cookie no longer works");
    assert.equal(replayed.headers.get("location"), "/admin/login?m=expired");
    await admin.context.close();
  });

  it("every composer control is reached by keyboard, in order, and Enter on Publish sends the form", async () => {
    const { context, page } = await open();
    await signIn(page, TOKEN);
    await page.goto(`${base}/admin/incidents/new`);
    const reached: string[] = [];
    for (let i = 0; i < 30 && !reached.includes("BUTTON:Publish"); i++) {
      await page.keyboard.press("Tab");
      reached.push((await page.evaluate("(() => { const e = document.activeElement; return e.tagName + ':' + (e.id || e.textContent.trim()); })()")) as string);
    }
    const order = ["INPUT:compose-title", "SELECT:compose-status", "TEXTAREA:compose-message", "SELECT:compose-component-realtime-gateway", "SELECT:compose-component-chat", "SELECT:compose-component-qa", "SELECT:compose-component-cache", "INPUT:compose-notify", "BUTTON:Publish"];
    assert.deepEqual(reached.filter((r) => order.includes(r)), order, reached.join(" → "));
    await page.locator("#compose-title").focus();
    await page.keyboard.type("Keyboard-only incident");
    await page.locator("#compose-message").focus();
    await page.keyboard.type("Typed without a mouse.");
    await page.locator("#compose-component-cache").focus();
    await page.keyboard.press("End");
    await page.locator("#compose-notify").focus();
    await page.keyboard.press("Space");
    await page.getByRole("button", { name: "Publish" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForURL(/\?done=published$/);
    const id = /\/admin\/incidents\/(\w+)\?/.exec(page.url())![1]!;
    const incident = (await api("GET", `/incidents/${id}`)).body.incident as { components: Record<string, string>; updates: { notify?: boolean }[] };
    assert.deepEqual(incident.components, { cache: "major_outage" });
    assert.equal(incident.updates[0]!.notify, false, "Space unticked Notify subscribers");
    await api("POST", `/incidents/${id}/resolve`, { body: "Done." });
    await context.close();
  });

  it("screenshots of the incidents list and the composer: light, dark and phone, nothing wider than a phone", async () => {
    await api("POST", "/incidents", { name: "Realtime gateway refuses new connections", body: "Some users cannot connect. We are investigating.", components: { "realtime-gateway": "major_outage", chat: "partial_outage" } });
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await signIn(page, TOKEN);
      if (mode === "dark") {
        const background = "getComputedStyle(document.body).backgroundColor";
        assert.notEqual(await page.evaluate(background), "rgb(247, 248, 250)", "dark mode follows prefers-color-scheme");
      }
      await page.screenshot({ path: path.join(ARTIFACTS, `console-incidents-${mode}.png`), fullPage: true });
      await page.getByRole("link", { name: "New incident" }).click();
      await page.getByLabel("Title").fill("Chat messages delayed");
      await page.getByLabel("Message").fill("Messages take up to 30 s to arrive. We are investigating.");
      await page.getByLabel("Chat", { exact: true }).selectOption("partial_outage");
      if (mode === "phone") {
        const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
        assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, `console-composer-${mode}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    }
    const { context, page } = await open();
    await signIn(page, TOKEN);
    await page.getByRole("link", { name: "Realtime gateway refuses new connections" }).click();
    await page.screenshot({ path: path.join(ARTIFACTS, "console-incident-light.png"), fullPage: true });
    await context.close();
  });
});
