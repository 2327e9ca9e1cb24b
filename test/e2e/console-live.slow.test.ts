import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page } from "playwright-core";
import { freePort } from "../../src/core/index.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { ARTIFACTS, launchChromium, openPage, signInWithToken, startRole, stopRole, type PageOptions } from "../helpers/browser.ts";

const TOKEN = "console-live-admin-token-0123456789";
/** A change reaches the page within the store's change event plus /admin/live's one-push-a-second: ~1–2 s. */
const LIVE_WITHIN_MS = 8_000;

describe("console live refresh in real headless Chromium (slow: the web role from the CLI, real redis-server, the console's /admin/live stream)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let web: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  const output: string[] = [];

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.ok(res.ok, `${method} ${pathname}: ${res.status}`);
    return (await res.json()) as { incident: { id: string } };
  };
  const open = (options: PageOptions = {}) => openPage(browser, options);
  /** Set on the page's window: still there later means the page was never reloaded. */
  const mark = (page: Page) => page.evaluate("window.__notReloaded = true");
  const stillSamePage = async (page: Page) => assert.equal(await page.evaluate("window.__notReloaded === true"), true, "the page was not reloaded");

  before(async () => {
    redis = await startRedis();
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-console-live-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}" }
locations: [{ id: local }]
components:
  - { id: chat, name: Chat, group: Realtime }
  - { id: qa, name: Q&A, group: Realtime }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" };
    delete env.CACHE_REDIS_URL;
    web = startRole("web", env, output);
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await stopRole(web);
    await redis?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("an incident opened through the admin API appears on the open console list without a reload; a page without JavaScript stays as loaded", async (t) => {
    const live = await open();
    const still = await open({ javaScript: false });
    for (const { page } of [live, still]) {
      await signInWithToken(page, base, TOKEN);
      await page.locator("#open-heading").waitFor();
    }
    // The stream is open before the change, so this tests a pushed update, not the catch-up frame a fresh stream gets.
    await waitFor("the list's live stream", () => live.page.evaluate("document.body.getAttribute('data-live-stream') === 'open'"), 5_000, 50);
    await mark(live.page);
    const openList = live.page.locator("section", { has: live.page.getByRole("heading", { name: "Open", exact: true }) });
    assert.equal(await openList.getByText("Chat messages delayed").count(), 0);

    const opened = Date.now();
    const { incident } = await api("POST", "/incidents", { name: "Chat messages delayed", body: "Messages take up to 30 s to arrive.", components: { chat: "partial_outage" } });
    await openList.getByRole("link", { name: "Chat messages delayed" }).waitFor({ timeout: LIVE_WITHIN_MS });
    await stillSamePage(live.page);
    assert.match((await live.page.locator("[data-console-live-note]").textContent()) ?? "", /^Updated at \d\d:\d\d:\d\d UTC\.$/);
    t.diagnostic(`the list showed the new incident ${Date.now() - opened} ms after the admin API opened it`);

    // Without JavaScript the page is as it was loaded, even once a live update went out; a reload shows the incident.
    const stillOpen = still.page.locator("section", { has: still.page.getByRole("heading", { name: "Open", exact: true }) });
    assert.equal(await stillOpen.getByText("Chat messages delayed").count(), 0, "no JavaScript: nothing changes in place");
    await still.page.reload();
    await stillOpen.getByRole("link", { name: "Chat messages delayed" }).waitFor();

    await api("POST", `/incidents/${incident.id}/resolve`, { body: "Messages arrive on time again." });
    const resolved = live.page.locator("section", { has: live.page.getByRole("heading", { name: "Resolved" }) });
    await resolved.getByRole("link", { name: "Chat messages delayed" }).waitFor({ timeout: LIVE_WITHIN_MS });
    assert.equal(await openList.getByText("Chat messages delayed").count(), 0, "it left the open list");
    await stillSamePage(live.page);
    assert.deepEqual([...live.problems, ...still.problems], [], "no console errors (CSP violations included)");
    await live.context.close();
    await still.context.close();
  });

  it("an incident's page shows a new entry on both timelines without a reload, and keeps what is being typed in its update form", async () => {
    const { incident } = await api("POST", "/incidents", { name: "Q&A questions delayed", body: "Questions appear late.", components: { qa: "degraded_performance" } });
    const { context, page, problems } = await open();
    await signInWithToken(page, base, TOKEN);
    await page.goto(`${base}/admin/incidents/${incident.id}`);
    await waitFor("the incident page's live stream", () => page.evaluate("document.body.getAttribute('data-live-stream') === 'open'"), 5_000, 50);
    await mark(page);
    const update = page.locator("form", { has: page.getByRole("button", { name: "Post update" }) });
    await update.getByLabel("Message").fill("Half-written update");

    await api("POST", `/incidents/${incident.id}/updates`, { status: "identified", body: "A stuck consumer was found; it is being restarted." });
    const publicTimeline = page.locator("section", { has: page.getByRole("heading", { name: "Public timeline" }) });
    const oncallTimeline = page.locator("section", { has: page.getByRole("heading", { name: "On-call timeline" }) });
    await publicTimeline.getByText("A stuck consumer was found").waitFor({ timeout: LIVE_WITHIN_MS });
    await oncallTimeline.getByText("A stuck consumer was found").waitFor();
    assert.match((await page.locator(".incident-meta").textContent()) ?? "", /Identified/, "the incident's status moved on too");
    await stillSamePage(page);
    assert.equal(await update.getByLabel("Message").inputValue(), "Half-written update", "the form being typed in is left alone");

    // An on-call-only entry changes nothing customers see, and still reaches the console at once (its own stream, /admin/live).
    await api("POST", `/incidents/${incident.id}/updates`, { body: "Consumer group q-7 lags 40 s on partition 3.", internal: true });
    await oncallTimeline.getByText("Consumer group q-7 lags 40 s").waitFor({ timeout: LIVE_WITHIN_MS });
    assert.equal(await publicTimeline.getByText("Consumer group q-7").count(), 0, "not on the public timeline");
    await stillSamePage(page);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it("screenshots of the live list after an update: light, dark and phone, nothing wider than a phone", async () => {
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await signInWithToken(page, base, TOKEN);
      await waitFor("the list's live stream", () => page.evaluate("document.body.getAttribute('data-live-stream') === 'open'"), 5_000, 50);
      const name = `Cache slow (${mode})`;
      await api("POST", "/incidents", { name, body: "Pages load slowly.", components: { chat: "degraded_performance" } });
      await page.getByRole("link", { name }).waitFor({ timeout: LIVE_WITHIN_MS });
      if (mode === "phone") {
        const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
        assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
      }
      await page.screenshot({ path: path.join(ARTIFACTS, `console-live-${mode}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
