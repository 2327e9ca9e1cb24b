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

const TOKEN = "console-ops-admin-token-0123456789abcdef";

interface OnCallPost {
  type: string;
  data: { incident: { id: string } };
}



describe("console notifications, tokens and audit log in real headless Chromium (slow: web and worker roles from the CLI, real redis-server)", { timeout: 240_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let web: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  let oncall: HttpReceiver;
  let pager: HttpReceiver;
  let hooks: HttpReceiver;
  const output: string[] = [];

  const api = async (method: string, pathname: string, body?: unknown, token = TOKEN) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const postsFor = (incident: string) => oncall.requests.filter((r) => (r.json as OnCallPost | undefined)?.data?.incident?.id === incident);
  const deadLetterOf = async (incident: string) =>
    ((await api("GET", "/notifications/dead")).body.dead as { id: string; channel: string; job: { event: { incident: { id: string } } } }[]).find((d) => d.channel === "oncall" && d.job.event.incident.id === incident);
  const openIncident = async (name: string, components: Record<string, string>) => ((await api("POST", "/incidents", { name, body: "We are investigating.", components })).body.incident as { id: string }).id;

  const open = (options: PageOptions = {}) => openPage(browser, options);

  const signIn = (page: Page, token: string) => signInWithToken(page, base, token);

  async function subscribe(pathname: string): Promise<void> {
    const asked = await fetch(`${base}/subscriptions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "webhook", endpoint: hooks.url(pathname) }) });
    assert.equal(asked.status, 202);
    const confirmation = await waitFor(`the confirmation request to ${pathname} (the worker role)`, () => hooks.requests.find((r) => r.path === pathname && (r.json as { subscription_confirmation?: unknown })?.subscription_confirmation), 30_000, 50);
    const link = (confirmation.json as { subscription_confirmation: { confirm_url: string } }).subscription_confirmation.confirm_url;
    assert.equal((await fetch(link, { headers: { accept: "application/json" } })).status, 200);
  }

  before(async () => {
    redis = await startRedis();
    [oncall, pager, hooks] = await Promise.all([HttpReceiver.start({ status: 200 }), HttpReceiver.start({ status: 200 }), HttpReceiver.start({ status: 200 })]);
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-console-ops-"));
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
notifications:
  retry_base: 100ms
  retry_max: 300ms
  attempts: 2
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
    - { id: pager, kind: webhook, url: "${pager.url("/pager")}" }
subscriptions: { rate_limit: { requests: 1000, per: 1m } }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" };
    delete env.CACHE_REDIS_URL;
    web = startRole("web", env, output);
    worker = startRole("worker", env, output);
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    await subscribe("/hooks/lumen-ops");
    await subscribe("/hooks/support-desk");
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await Promise.all([stopRole(web), stopRole(worker)]);
    await Promise.all([oncall?.stop(), pager?.stop(), hooks?.stop()]);
    await redis?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("Replay… on a dead letter, confirmed on its own page, delivers the post once to the real receiver", async () => {
    oncall.answer({ status: 400, body: "unknown field" });
    const id = await openIncident("Chat messages delayed", { chat: "partial_outage" });
    await waitFor("the refused post in the dead-letter list", () => deadLetterOf(id), 15_000, 50);
    const { context, page, problems } = await open();
    await signIn(page, TOKEN);
    await page.getByRole("link", { name: "Notifications" }).first().click();
    await page.waitForURL(/\/admin\/notifications$/);
    await page.getByRole("link", { name: "Replay the post to oncall: Incident opened, Chat messages delayed" }).click();
    await page.getByRole("heading", { name: "Replay a post?" }).waitFor();
    assert.equal(postsFor(id).length, 1, "the confirmation page sends nothing");
    await page.screenshot({ path: path.join(ARTIFACTS, "console-replay-confirm-light.png"), fullPage: true });
    await page.getByRole("button", { name: "Replay" }).click();
    await page.locator(".flash", { hasText: "Replayed" }).waitFor();
    await waitFor("the replayed post at the receiver", () => postsFor(id).length === 2, 15_000, 50);
    // The incident's next post reaches the channel after it: once it is there, a doubled replay would have been too.
    assert.equal((await api("POST", `/incidents/${id}/updates`, { status: "identified", body: "A stuck consumer." })).status, 200);
    await waitFor("the next post at the receiver", () => postsFor(id).some((p) => (p.json as OnCallPost).type === "incident.updated"), 15_000, 50);
    const openings = postsFor(id).filter((p) => (p.json as OnCallPost).type === "incident.opened");
    assert.equal(openings.length, 2, "refused once, replayed once");
    assert.equal(openings[0]!.headers["webhook-id"], openings[1]!.headers["webhook-id"]);
    assert.equal(await deadLetterOf(id), undefined);
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
    await context.close();
  });

  it("a token made on the Tokens page is shown once and works on the API; Revoke asks, then it stops working", async () => {
    const { context, page, problems } = await open();
    await signIn(page, TOKEN);
    await page.getByRole("link", { name: "Tokens & audit" }).click();
    await page.getByLabel("Name").fill("deploy-bot");
    await page.getByRole("checkbox", { name: /^incidents/ }).check();
    await page.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("heading", { name: "Token created" }).waitFor();
    const secret = await page.getByLabel("New token").inputValue();
    // The token in this picture is revoked below.
    await page.screenshot({ path: path.join(ARTIFACTS, "console-token-created-light.png"), fullPage: true });
    assert.match(secret, /^pb_[a-z0-9]{12}\./);
    assert.match((await page.locator("main").textContent()) ?? "", /Copy it now: select it and press Ctrl\+C/);
    assert.equal((await api("GET", "/incidents", undefined, secret)).status, 200, "the token works on the API");
    await page.getByRole("link", { name: "Back to tokens" }).click();
    assert.ok(!((await page.content()).includes(secret.split(".")[1]!)), "the tokens page never shows it again");

    await page.getByRole("link", { name: "Revoke token deploy-bot" }).click();
    await page.getByRole("heading", { name: "Revoke a token?" }).waitFor();
    assert.equal((await api("GET", "/incidents", undefined, secret)).status, 200, "asking revokes nothing");
    await page.getByRole("button", { name: "Revoke token" }).click();
    await page.locator(".flash", { hasText: "Token revoked" }).waitFor();
    assert.equal((await api("GET", "/incidents", undefined, secret)).status, 401);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("screenshots of the notifications and audit pages (and subscribers, tokens): light, dark and phone, nothing wider than a phone", async () => {
    pager.answer({ status: 410, body: "gone" });
    oncall.answer({ status: 503, body: "maintenance" }, 2);
    const id = await openIncident("Realtime gateway refuses new connections", { "realtime-gateway": "major_outage", chat: "partial_outage" });
    await waitFor("the pager disabled and a second dead letter", async () => ((await api("GET", "/notifications/channels/disabled")).body.disabled as string[]).includes("pager") && (await deadLetterOf(id)), 15_000, 50);
    const reader = (await api("POST", "/tokens", { name: "status-viewer", scopes: ["read"] })).body as { token: string };
    await api("POST", "/tokens", { name: "eu-west agent", scopes: ["agent:local"] });
    assert.ok(reader.token);
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await signIn(page, TOKEN);
      for (const [name, pathname] of [["notifications", "/admin/notifications"], ["subscribers", "/admin/subscribers"], ["tokens", "/admin/tokens"], ["audit", "/admin/audit"]] as const) {
        if (mode !== "light" && (name === "subscribers" || name === "tokens")) continue;
        await page.goto(`${base}${pathname}`);
        if (mode === "dark") assert.notEqual(await page.evaluate("getComputedStyle(document.body).backgroundColor"), "rgb(247, 248, 250)", "dark mode follows prefers-color-scheme");
        if (mode === "phone") {
          const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
          assert.ok(overflow <= 0, `${name}: no sideways scrolling on a phone (overflow ${overflow}px)`);
        }
        await page.screenshot({ path: path.join(ARTIFACTS, `console-${name}-${mode}.png`), fullPage: true });
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
    const audit = await open();
    await signIn(audit.page, TOKEN);
    await audit.page.goto(`${base}/admin/audit`);
    const text = (await audit.page.locator("main").textContent()) ?? "";
    assert.match(text, /POST \/admin\/notifications\/dead\/\w+\/replay/, "the console's replay is in the audit log");
    assert.match(text, /POST \/admin\/tokens\/\w+\/revoke/, "and the revocation");
    await audit.context.close();
  });
});
