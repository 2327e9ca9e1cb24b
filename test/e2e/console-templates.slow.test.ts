import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser } from "playwright-core";
import { freePort } from "../../src/core/index.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { ARTIFACTS, launchChromium, openPage, signInWithToken, startRole, stopRole } from "../helpers/browser.ts";

const TOKEN = "console-templates-admin-token-0123456789";

describe("incident templates in real headless Chromium (slow: the web role from the CLI, real redis-server)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let web: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  const output: string[] = [];

  const api = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${base}/admin/api${pathname}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    redis = await startRedis();
    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-templates-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}" }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: chat, name: Chat }
  - { id: qa, name: Q&A }
  - { id: cache, name: Cache }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" };
    delete env.CACHE_REDIS_URL;
    web = startRole("web", env, output);
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    assert.equal((await api("POST", "/templates", { name: "Cache clogged", title: "{components} {is} slow", body: "The cache behind {components} is overloaded; {page} is shedding load.", components: { cache: "major_outage", chat: "degraded_performance" } })).status, 201);
    assert.equal((await api("POST", "/templates", { name: "Connection surge", title: "Trouble connecting to {components}", body: "Many people are joining at once; some see “Connecting…” for longer than usual.", components: { "realtime-gateway": "partial_outage" } })).status, 201);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await stopRole(web);
    await redis?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("without JavaScript: writes a template through the form, picks it in the composer with Use template, publishes the filled-in text", async () => {
    const { context, page } = await openPage(browser, { javaScript: false });
    await signInWithToken(page, base, TOKEN);
    await page.getByRole("link", { name: "Templates" }).click();
    await page.getByRole("link", { name: "New template" }).click();
    await page.getByLabel("Name").fill("Chat delayed");
    await page.getByLabel("Title").fill("{components} messages delayed");
    await page.getByLabel("Message").fill("Messages on {page} take up to 30 s to arrive.");
    await page.getByLabel("Chat").selectOption("degraded_performance");
    await page.getByRole("button", { name: "Save template" }).click();
    await page.waitForURL(/\/admin\/templates\?done=created/);
    await page.getByRole("link", { name: "Incidents", exact: true }).click();
    await page.getByRole("link", { name: "New incident" }).click();
    await page.getByLabel("Template", { exact: true }).selectOption({ label: "Chat delayed" });
    await page.getByRole("button", { name: "Use template" }).click();
    await page.waitForURL(/\/admin\/incidents\/new\?template=/);
    assert.equal(await page.getByLabel("Title").inputValue(), "Chat messages delayed");
    assert.equal(await page.getByLabel("Message").inputValue(), "Messages on Lumen Live take up to 30 s to arrive.");
    assert.equal(await page.getByLabel("Chat", { exact: true }).inputValue(), "degraded_performance");
    await page.getByRole("button", { name: "Publish" }).click();
    await page.waitForURL(/\/admin\/incidents\/[^/]+\?done=published$/);
    const { body } = await api("GET", "/incidents");
    const incident = (body.incidents as { name: string; components: Record<string, string>; updates: { body: string }[] }[])[0]!;
    assert.equal(incident.name, "Chat messages delayed");
    assert.equal(incident.updates[0]!.body, "Messages on Lumen Live take up to 30 s to arrive.");
    assert.deepEqual(incident.components, { chat: "degraded_performance" });
    await context.close();
  });

  for (const [name, options] of [["light", {}], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
    it(`the templates page (${name}) fits its screen: screenshot test-results/console-templates-${name}.png`, async () => {
      const { context, page, problems } = await openPage(browser, { ...options, localOnly: true });
      await signInWithToken(page, base, TOKEN);
      await page.goto(`${base}/admin/templates`);
      await page.getByRole("heading", { name: "Incident templates" }).waitFor();
      const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
      assert.ok(overflow <= 0, `no sideways scrolling (${overflow} px too wide)`);
      await page.screenshot({ path: path.join(ARTIFACTS, `console-templates-${name}.png`), fullPage: true });
      if (name === "phone") {
        await page.goto(`${base}/admin/incidents/new`);
        await page.screenshot({ path: path.join(ARTIFACTS, "console-templates-composer-phone.png"), fullPage: true });
      }
      assert.deepEqual(problems, []);
      await context.close();
    });
  }
});
