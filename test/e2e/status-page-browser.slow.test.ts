import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const TOKEN = "browser-test-admin-token";
/** Screenshots land here (CI keeps the folder as the run's artifacts). */
const ARTIFACTS = path.join(REPO_ROOT, "test-results");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Flags for a sandboxed, offline CI machine: no background network, no GPU. */
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

/** The web role from the CLI against a real redis-server: what a browser would reach in production. */
function startWeb(env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "web"], { env, stdio: ["ignore", "ignore", "pipe"] });
  child.stderr!.on("data", (chunk: Buffer) => process.env.TEST_VERBOSE && process.stderr.write(chunk));
  return child;
}

async function stopWeb(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

describe("status page in real headless Chromium (slow: web role from the CLI, real redis-server)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let web: ChildProcess | undefined;
  let browser: Browser;
  let base: string;

  before(async () => {
    redis = await startRedis();
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-browser-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}", description: "Live events, chat and Q&A.", links: [{ label: Help, url: "https://help.example.com" }] }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime, description: "WebSocket connections" }
  - { id: chat, name: Chat, group: Realtime }
  - { id: cache, name: Cache, group: Platform }
probes:
  - { id: chat-echo, name: Chat publish and echo, kind: websocket, interval: 5s, chart: true, components: [chat] }
`);
    env = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" };
    delete env.CACHE_REDIS_URL;
    web = startWeb(env);
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await stopWeb(web);
    await redis.stop();
    rmSync(home, { recursive: true, force: true });
  });

  const admin = (pathname: string, body: unknown) =>
    fetch(`${base}/admin/api${pathname}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  async function open(colorScheme: "light" | "dark"): Promise<Page> {
    const context = await browser.newContext({ colorScheme, viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${base}/`);
    (page as Page & { problems: string[] }).problems = problems;
    return page;
  }

  it("shows the banner, components with 90-day bars and their text labels", async () => {
    const page = await open("light");
    assert.equal(await page.title(), "Lumen Live status");
    assert.equal((await page.locator(".banner-text").textContent())?.trim(), "All Systems Operational");
    assert.equal(await page.locator(".component").count(), 3);
    assert.equal(await page.locator(".component").first().locator(".cell").count(), 90);
    // Every status shows its words, never colour alone.
    for (const label of await page.locator(".component .status").allTextContents()) assert.match(label, /Operational|outage|Degraded|maintenance/);
    // A day's tooltip appears on keyboard focus.
    const today = page.locator(".component").first().locator(".cell").last();
    assert.match((await today.getAttribute("aria-label")) ?? "", /^\d{1,2} \w{3,4} \d{4}(, .+: [\d.]+% uptime|: No data)/);
    const tooltip = (cell: typeof today) => cell.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown, p: string): { display: string; content: string } }).getComputedStyle(el, "::after"));
    assert.equal((await tooltip(today)).display, "none", "tooltip hidden until hover or focus");
    await today.focus();
    const shown = await tooltip(today);
    assert.equal(shown.display, "block", "tooltip shown on keyboard focus");
    assert.match(shown.content, /uptime|No data/);
    assert.deepEqual((page as Page & { problems: string[] }).problems, [], "no console errors (CSP violations included)");
    await page.context().close();
  });

  it("an incident opened through the admin API appears with its banner without a reload; screenshots in light and dark", async () => {
    const light = await open("light");
    const dark = await open("dark");
    for (const page of [light, dark]) await page.evaluate("window.marker = 42");
    const res = await admin("/incidents", { name: "Chat messages delayed", body: "Messages take up to 30 s to arrive. We are investigating.", components: { chat: "partial_outage" } });
    assert.equal(res.status, 201, await res.text());
    for (const page of [light, dark]) {
      await page.locator('[data-live="incidents"] .incident-name', { hasText: "Chat messages delayed" }).waitFor({ timeout: 15_000 });
      assert.equal((await page.locator(".banner-text").textContent())?.trim(), "Partial System Outage");
      assert.match((await page.locator(".component", { hasText: "Chat" }).first().locator(".status").textContent()) ?? "", /Partial outage/);
      assert.equal(await page.evaluate("window.marker"), 42, "the page was updated in place, not reloaded");
    }
    const background = "getComputedStyle(document.body).backgroundColor";
    assert.notEqual(await dark.evaluate(background), await light.evaluate(background), "dark mode follows prefers-color-scheme");
    await light.screenshot({ path: path.join(ARTIFACTS, "status-page-light.png"), fullPage: true });
    await dark.screenshot({ path: path.join(ARTIFACTS, "status-page-dark.png"), fullPage: true });
    const phone = await browser.newPage({ viewport: { width: 375, height: 800 }, isMobile: true });
    await phone.goto(`${base}/`);
    const overflow = (await phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
    assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
    await phone.screenshot({ path: path.join(ARTIFACTS, "status-page-phone.png"), fullPage: true });
    await phone.close();
    for (const page of [light, dark]) await page.context().close();
  });

  it("the subscribe page speaks the site's layout and names a bad address without losing the form", async () => {
    const page = await open("light");
    await page.getByRole("link", { name: "Subscribe" }).click();
    await page.waitForURL(/\/subscriptions$/);
    assert.match(await page.title(), /Lumen Live status/);
    const webhook = page.locator("form", { hasText: "By webhook" });
    await webhook.locator('input[name="endpoint"]').fill("http://169.254.169.254/latest/meta-data");
    await webhook.getByRole("button", { name: "Subscribe a webhook" }).click();
    const issues = page.locator(".issues");
    await issues.waitFor({ timeout: 10_000 });
    assert.match((await issues.textContent()) ?? "", /endpoint/i);
    assert.deepEqual((page as Page & { problems: string[] }).problems.filter((p) => !/status of 400/.test(p)), [], "no console errors");
    await page.context().close();
  });

  it("with Redis gone, the open page says its data may be stale; a restarted web role serves the disk copy", async () => {
    const page = await open("light");
    await redis.stop();
    await page.locator(".stale", { hasText: "Data may be stale since" }).waitFor({ timeout: 20_000 });
    await stopWeb(web);
    web = startWeb(env);
    const res = await waitFor("the restarted web role", async () => {
      const answer = await fetch(`${base}/`).catch(() => undefined);
      return answer?.status === 200 ? answer : undefined;
    }, 30_000, 200);
    assert.ok(res.headers.get("x-pulseboard-stale-since"), "stale header on the disk copy");
    await page.reload();
    assert.match((await page.locator(".stale").textContent()) ?? "", /Data may be stale since/);
    assert.equal((await page.locator(".banner-text").textContent())?.trim(), "Partial System Outage", "the disk copy still shows the open incident");
    await page.context().close();
  });
});
