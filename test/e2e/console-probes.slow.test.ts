import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page } from "playwright-core";
import { freePort } from "../../src/core/index.ts";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient } from "../helpers/ws-client.ts";
import { ARTIFACTS, launchChromium, openPage, signInWithToken, startRole, stopRole, type PageOptions } from "../helpers/browser.ts";

const TOKEN = "console-probes-browser-token-0123456789";



describe("console probes, locations and fleet in real headless Chromium (slow: web and core roles from the CLI, a gateway fleet, real redis-server)", { timeout: 300_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  let home: string;
  let web: ChildProcess | undefined;
  let core: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  const output: string[] = [];
  const clients: TestClient[] = [];

  const api = async (method: string, pathname: string) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
    return (await res.json()) as any;
  };
  const restartsOf = async (node: string) => ((await fleet.admin("GET", "/nodes")).body.nodes as { id: string; restarts: number }[]).find((n) => n.id === node)!.restarts;

  const open = (options: PageOptions = {}) => openPage(browser, options);

  const signIn = (page: Page) => signInWithToken(page, base, TOKEN);

  /** A node's cell on the fleet page, by its column's label. */
  const cell = (page: Page, node: string, label: string) => page.locator(`tr[data-node="${node}"] [data-label="${label}"]`);

  before(async () => {
    redis = await startRedis();
    fleet = await startTestFleet({ nodes: 2 });
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-console-probes-"));
    const port = await freePort();
    const closed = await freePort();
    base = `http://127.0.0.1:${port}`;
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}" }
locations: [{ id: local, name: Local }, { id: eu, name: Frankfurt, remote: true }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime }
  - { id: chat, name: Chat, group: Realtime }
probes:
  - { id: connect, name: Gateway connect, kind: websocket, interval: 2s, timeout: 1500ms, components: [realtime-gateway], locations: [local, eu], with: { url: "${fleet.url()}", channel: null } }
  - { id: node-0, name: Node 0 connect, kind: websocket, interval: 2s, timeout: 1500ms, components: [realtime-gateway], with: { url: "${fleet.url(0)}", channel: null } }
  - { id: chat-backend, name: Chat backend, kind: websocket, interval: 2s, timeout: 1500ms, components: [chat], with: { url: "ws://127.0.0.1:${closed}/ws", channel: null } }
`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      PULSEBOARD_HOME: home,
      PORT: String(port),
      REDIS_URL: redis.url,
      ADMIN_TOKEN: TOKEN,
      GATEWAY_ADMIN_URL: fleet.adminUrl,
      GATEWAY_ADMIN_TOKEN: fleet.token,
      LOG_LEVEL: "warn",
    };
    delete env.CACHE_REDIS_URL;
    web = startRole("web", env, output);
    core = startRole("core", env, output);
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    await waitFor("a few results of every probe", async () => {
      const { probes } = await api("GET", "/probes");
      const counts = await Promise.all((probes as { id: string }[]).map(async (p) => (await api("GET", `/probes/${p.id}/results?location=local`)).results.length as number));
      return counts.every((n) => n >= 3);
    }, 60_000, 500).catch((err: Error) => {
      throw new Error(`${err.message}\n${output.join("")}`);
    });
    browser = await launchChromium();
  });

  after(async () => {
    for (const client of clients) client.ws.terminate();
    await browser?.close();
    await Promise.all([stopRole(web), stopRole(core)]);
    await fleet?.stop();
    await redis?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("the fleet page refreshes live: a restart made elsewhere shows without a reload, and keyboard focus stays where it was", async () => {
    const { context, page, problems } = await open();
    await signIn(page);
    await page.getByRole("link", { name: "Fleet", exact: true }).click();
    await page.waitForURL(/\/admin\/fleet$/);
    assert.equal(await cell(page, "node-0", "State").textContent(), "ready");
    const before = Number(await cell(page, "node-0", "Restarts").textContent());
    await page.evaluate("window.__sameDocument = true");
    await page.locator("#restart-node-1").focus();

    assert.equal((await fleet.admin("POST", "/nodes/node-0/restart")).status, 200);
    const changed = Date.now();
    await cell(page, "node-0", "Restarts").filter({ hasText: String(before + 1) }).waitFor({ timeout: 15_000 });
    // The fleet page refreshes every 5 s; one period plus a fetch, with room for a slow machine.
    assert.ok(Date.now() - changed < 15_000);
    assert.equal(await page.evaluate("window.__sameDocument === true"), true, "no reload: the live part was swapped in");
    assert.equal(await page.evaluate("document.activeElement && document.activeElement.id"), "restart-node-1", "focus stayed on the same button");

    clients.push(await TestClient.connect(fleet.url(1)));
    await cell(page, "node-1", "Connections").filter({ hasText: /^[1-9]/ }).waitFor({ timeout: 15_000 });
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
    await context.close();
  });

  it("a restart from the fleet page asks for confirmation on its own page, then the node's restart count goes up", async () => {
    const before = await restartsOf("node-1");
    const { context, page, problems } = await open();
    await signIn(page);
    await page.goto(`${base}/admin/fleet`);
    await page.getByRole("button", { name: "Restart node-1…" }).click();
    // A GET form with no fields: the confirmation page's address ends in a bare "?".
    await page.waitForURL(/\/admin\/fleet\/nodes\/node-1\/restart\??$/);
    await page.getByRole("heading", { name: "Restart node-1?" }).waitFor();
    assert.match((await page.locator(".note").textContent()) ?? "", /dry run: Would restart node-1 \(ready, \d+ clients?\)/);
    assert.equal(await restartsOf("node-1"), before, "asking restarted nothing");
    await page.getByRole("button", { name: "Restart node-1" }).click();
    await page.waitForURL(/\/admin\/fleet\?done=restart$/);
    await page.locator(".flash", { hasText: "Node restarted." }).waitFor();
    assert.equal(await restartsOf("node-1"), before + 1);
    assert.equal(await cell(page, "node-1", "Restarts").textContent(), String(before + 1));
    assert.equal((await clients[0]!.closed(5_000)).code, 1012, "its client was told to reconnect elsewhere");
    assert.deepEqual(problems, []);
    await context.close();

    const noScript = await open({ javaScript: false });
    await signIn(noScript.page);
    await noScript.page.goto(`${base}/admin/fleet`);
    assert.equal(await cell(noScript.page, "node-1", "Restarts").textContent(), String(before + 1), "without JavaScript the page shows the fleet at load");
    await noScript.page.getByRole("link", { name: "Refresh" }).click();
    await noScript.page.waitForURL(/\/admin\/fleet$/);
    await noScript.context.close();
  });

  it("pause, run now and resume by clicking, on the probe's page", async () => {
    const { context, page, problems } = await open();
    await signIn(page);
    await page.getByRole("link", { name: "Probes", exact: true }).click();
    await page.getByRole("link", { name: "Gateway connect" }).click();
    await page.waitForURL(/\/admin\/probes\/connect$/);
    await page.getByRole("button", { name: "Pause" }).click();
    await page.locator(".flash", { hasText: "Paused" }).waitFor();
    assert.equal((await api("GET", "/probes")).probes.find((p: { id: string }) => p.id === "connect").paused, true);
    assert.equal(await page.getByLabel("Location", { exact: true }).inputValue(), "local", "only the local location can run it now");
    await page.getByRole("button", { name: "Run now" }).click();
    await page.getByRole("heading", { name: "Ran now from Local" }).waitFor();
    const ranId = await page.locator("[data-result]").getAttribute("data-result");
    await waitFor("the run-now result in the admin API", async () => (await api("GET", "/probes/connect/results?location=local&limit=5")).results[0]?.id === ranId, 10_000, 100);
    await page.getByRole("button", { name: "Resume" }).click();
    await page.locator(".flash", { hasText: "Resumed" }).waitFor();
    assert.equal((await api("GET", "/probes")).probes.find((p: { id: string }) => p.id === "connect").paused, false);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("screenshots of the probes list, a probe's page and the fleet page: light, dark and phone, nothing wider than a phone", async () => {
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await signIn(page);
      if (mode === "dark") assert.notEqual(await page.evaluate("getComputedStyle(document.body).backgroundColor"), "rgb(247, 248, 250)", "dark mode follows prefers-color-scheme");
      for (const [name, pathname] of [["probes", "/admin/probes"], ["probe", "/admin/probes/connect"], ["fleet", "/admin/fleet"]] as const) {
        await page.goto(`${base}${pathname}`);
        if (name === "probe") assert.equal(await page.locator("svg.chart-plot").count(), 2, "both charts are drawn");
        if (mode === "phone") {
          const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
          assert.ok(overflow <= 0, `${pathname}: no sideways scrolling on a phone (overflow ${overflow}px)`);
        }
        await page.screenshot({ path: path.join(ARTIFACTS, `console-${name}-${mode}.png`), fullPage: true });
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
