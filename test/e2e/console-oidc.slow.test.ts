import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page } from "playwright-core";
import type { AuditEntry } from "../../src/auth/index.ts";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { startOidcProvider, type TestProvider } from "../helpers/oidc-provider.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { ARTIFACTS, launchChromium, openPage, type PageOptions } from "../helpers/browser.ts";

const TOKEN = "console-oidc-browser-admin-token-0123456789";
const SECRET = "console-oidc-browser-client-secret-0123456789";

/**
 * OpenID Connect sign-in in real headless Chromium: the web role from the
 * CLI on 127.0.0.1, a real oidc-provider on [::1] (another site, as a
 * company's identity provider is), its own login and consent pages, the
 * session cookie SameSite=Strict all the way.
 */
describe("console sign-in with OpenID Connect in real headless Chromium (slow: the web role from the CLI, a real oidc-provider, real redis-server)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let web: ChildProcess | undefined;
  let provider: TestProvider;
  let browser: Browser;
  let base: string;
  const output: string[] = [];

  const api = async (method: string, pathname: string) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
    return (await res.json()) as Record<string, unknown>;
  };

  const open = (options: Omit<PageOptions, "localOnly"> = {}) => openPage(browser, { ...options, localOnly: true });

  /** The provider's development login (any password) and consent pages, as a person clicks through them. */
  async function atProvider(page: Page, login: string): Promise<void> {
    await page.waitForURL((url) => url.hostname === "[::1]");
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill("any password");
    await page.getByRole("button", { name: "Sign-in" }).click();
    await page.getByRole("button", { name: "Continue" }).click();
  }

  before(async () => {
    redis = await startRedis();
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-console-oidc-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    provider = await startOidcProvider({
      clients: [{ client_id: "pulseboard", client_secret: SECRET, redirect_uris: [`${base}/admin/oidc/callback`] }],
      accounts: { ada: { name: "Ada Lovelace", groups: ["oncall"] }, bob: { name: "Bob Outsider", groups: ["marketing"] } },
    });
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(path.join(home, "oidc-secret"), `${SECRET}\n`);
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}" }
locations: [{ id: local }]
components:
  - { id: chat, name: Chat }
  - { id: qa, name: Q&A }
admin:
  oidc:
    name: Lumen SSO
    issuer: "${provider.issuer}"
    client_id: pulseboard
    client_secret_file: ${path.join(home, "oidc-secret")}
    request_scopes: [openid, profile, email, groups]
    scopes: { oncall: [incidents] }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "info" };
    delete env.CACHE_REDIS_URL;
    delete env.PUBLIC_URL;
    web = spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "web"], { env, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [web.stdout!, web.stderr!]) stream.on("data", (chunk: Buffer) => void output.push(chunk.toString()));
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (web && web.exitCode === null && web.signalCode === null) {
      const exited = new Promise((resolve) => web!.once("exit", resolve));
      web.kill("SIGTERM");
      await exited;
    }
    await provider?.stop();
    await redis?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("signs Ada in through the provider's login and consent pages and lands her on the incidents list; what she publishes is credited to her", async () => {
    const { context, page, problems } = await open();
    await page.goto(`${base}/admin`);
    await page.waitForURL(/\/admin\/login$/);
    await page.getByRole("link", { name: "Sign in with Lumen SSO" }).click();
    await atProvider(page, "ada");
    // The session cookie is SameSite=Strict and the way back started on the provider's site: this is where a browser would have dropped it.
    await page.waitForURL(/\/admin\/incidents$/, { timeout: 10_000 });
    assert.equal(await page.locator(".who").innerText(), "Ada Lovelace (incidents)");
    await page.getByRole("link", { name: "New incident" }).click();
    await page.getByLabel("Title").fill("Chat messages delayed");
    await page.getByLabel("Message").fill("Messages take up to 30 s to arrive.");
    await page.getByLabel("Chat", { exact: true }).selectOption("partial_outage");
    await page.getByRole("button", { name: "Publish" }).click();
    await page.waitForURL(/\/admin\/incidents\/\w+\?done=published$/);
    assert.match(await page.locator(".timeline-column").nth(1).innerText(), /by Ada Lovelace/);
    const entries = (await api("GET", "/audit")).entries as AuditEntry[];
    assert.ok(entries.some((e) => e.actor === "Ada Lovelace" && e.path === "/admin/incidents" && e.status === 303), JSON.stringify(entries));
    assert.ok(!output.join("").includes(SECRET), "the web role never logs the client secret");
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("refuses Bob, who is in no mapped group, with a page saying so", async () => {
    const { context, page } = await open();
    await page.goto(`${base}/admin/login`);
    await page.getByRole("link", { name: "Sign in with Lumen SSO" }).click();
    await atProvider(page, "bob");
    await page.waitForURL(/\/admin\/oidc\/callback/);
    await page.getByRole("heading", { name: "Not allowed" }).waitFor();
    assert.match(await page.locator("main").innerText(), /Your account is not in a group that may use this console: ask whoever runs this console/);
    assert.match(await page.locator("main").innerText(), /Lumen SSO signed you in as Bob Outsider, in these groups: marketing\./);
    await page.screenshot({ path: path.join(ARTIFACTS, "console-oidc-refused-light.png"), fullPage: true });
    await page.getByRole("link", { name: "Back to sign-in" }).click();
    await page.waitForURL(/\/admin\/login$/);
    await context.close();
  });

  it("screenshots of the sign-in page with the provider's button: light, dark and phone, nothing wider than a phone", async () => {
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await page.goto(`${base}/admin/login`);
      await page.getByRole("link", { name: "Sign in with Lumen SSO" }).waitFor();
      await page.getByLabel("Token").waitFor();
      if (mode === "phone") {
        const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
        assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, `console-oidc-${mode}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
