import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { freePort } from "../../src/core/index.ts";
import type { ProbeResult } from "../../src/probe-runtime/index.ts";
import { StatusStore } from "../../src/status/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const TOKEN = "charts-browser-test-admin-token";
/** Screenshots land here (CI keeps the folder as the run's artifacts). */
const ARTIFACTS = path.join(REPO_ROOT, "test-results");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];
const MIN = 60_000;

function result(probe: string, at: number, latency: number): ProbeResult {
  const iso = new Date(at).toISOString();
  return { id: `${probe}-${at}`, probe, kind: "websocket", location: "local", status: "ok", latency_ms: latency, phases: {}, started_at: iso, finished_at: iso };
}

/** The rendered size of text: its computed font size times how much its SVG (if any) is scaled. */
function renderedFontSizes(page: Page, selector: string): Promise<number[]> {
  return page.locator(selector).evaluateAll((nodes) =>
    nodes.map((node) => {
      const el = node as unknown as { ownerSVGElement?: { getScreenCTM(): { a: number } } | null };
      const scale = el.ownerSVGElement?.getScreenCTM().a ?? 1;
      return parseFloat((globalThis as unknown as { getComputedStyle(e: unknown): { fontSize: string } }).getComputedStyle(node).fontSize) * scale;
    }),
  );
}

const chart = (page: Page, probe: string, range: "24 hours" | "7 days"): Locator => page.locator(`.chart[aria-label="Response time of ${probe} over the last ${range}"]`);

describe("charts and uptime on day one, in real headless Chromium (slow: web role from the CLI, real redis-server)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let home: string;
  let web: ChildProcess | undefined;
  let browser: Browser;
  let base: string;
  const start = Date.now();

  before(async () => {
    redis = await startRedis();
    // A new install, a few minutes old: Chat answered every 15 s for 4.5 minutes; Gateway connect ran once; Cache was never seen.
    const store = new StatusStore(redis.client, "pulseboard");
    for (const id of ["chat", "realtime-gateway"]) await store.setEffective(id, "operational", start - 5 * MIN);
    for (let t = start - 4.5 * MIN; t <= start; t += 15_000) await store.recordResult(result("chat-echo", t, 20 + ((t / 15_000) % 4) * 10));
    await store.recordResult(result("gateway-connect", start - 10_000, 12));

    home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-charts-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const configFile = path.join(home, "pulseboard.yaml");
    writeFileSync(configFile, `
page: { name: "Lumen Live", url: "${base}" }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway, group: Realtime }
  - { id: chat, name: Chat, group: Realtime }
  - { id: cache, name: Cache, group: Platform }
probes:
  - { id: gateway-connect, name: Gateway connect, kind: websocket, interval: 5s, chart: true, components: [realtime-gateway] }
  - { id: chat-echo, name: Chat publish and echo, kind: websocket, interval: 5s, chart: true, components: [chat] }
`);
    const env: NodeJS.ProcessEnv = { ...process.env, PULSEBOARD_CONFIG: configFile, PULSEBOARD_HOME: home, PORT: String(port), REDIS_URL: redis.url, ADMIN_TOKEN: TOKEN, LOG_LEVEL: "warn" };
    delete env.CACHE_REDIS_URL;
    web = spawn(process.execPath, [path.join(REPO_ROOT, "bin/pulseboard.js"), "web"], { env, stdio: ["ignore", "ignore", "inherit"] });
    await waitFor("the web role", async () => (await fetch(`${base}/api/v2/status.json`).catch(() => undefined))?.status === 200, 30_000, 200);
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    if (web && web.exitCode === null) {
      const exited = new Promise((resolve) => web!.once("exit", resolve));
      web.kill("SIGTERM");
      await exited;
    }
    await redis.stop();
    rmSync(home, { recursive: true, force: true });
  });

  async function open(options: { colorScheme?: "light" | "dark"; width?: number } = {}): Promise<Page> {
    const context = await browser.newContext({ colorScheme: options.colorScheme ?? "light", viewport: { width: options.width ?? 1100, height: 900 }, isMobile: (options.width ?? 1100) < 500 });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    return page;
  }

  it("a few minutes of samples draw a visible line from the first sample, with the time axis covering the data", async () => {
    const page = await open();
    const day = chart(page, "Chat publish and echo", "24 hours");
    const line = day.locator("polyline.chart-p50");
    assert.equal(await line.count(), 1, "one line");
    const points = ((await line.getAttribute("points")) ?? "").split(" ").length;
    assert.ok(points >= 5, `one point a minute over ~5 minutes (${points})`);
    const plot = (await day.locator(".chart-plot").boundingBox())!;
    const drawn = (await line.boundingBox())!;
    assert.ok(drawn.width >= 0.7 * plot.width, `the line spans the chart (${drawn.width.toFixed(0)} of ${plot.width.toFixed(0)} px)`);
    const [axisStart, axisEnd] = await day.locator(".chart-x .chart-axis").allTextContents();
    assert.match(axisStart!, /\d{2}:\d{2}/, `the axis starts where the data does, not "24 h ago" (${axisStart})`);
    assert.equal(axisEnd, "now");
    await page.locator(".charts").screenshot({ path: path.join(ARTIFACTS, "charts-day-one.png") });
    await page.context().close();
  });

  it("a single sample is a visible dot, in the 24-hour and the 7-day chart", async () => {
    const page = await open();
    for (const range of ["24 hours", "7 days"] as const) {
      const dot = chart(page, "Gateway connect", range).locator(".chart-dot");
      assert.equal(await dot.count(), 1, `${range}: one dot`);
      const box = (await dot.boundingBox())!;
      assert.ok(box.width >= 5 && box.height >= 5, `${range}: the dot is ${box.width.toFixed(1)}×${box.height.toFixed(1)} px`);
      const stroke = await dot.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { stroke: string } }).getComputedStyle(el).stroke);
      assert.notEqual(stroke, "none");
    }
    await page.context().close();
  });

  it("axis labels are at least 11 px as rendered, on a desktop and on a phone", async () => {
    for (const width of [1100, 375]) {
      const page = await open({ width });
      const sizes = await renderedFontSizes(page, ".charts .chart-axis");
      assert.ok(sizes.length >= 4 * 5, `every chart's labels (${sizes.length})`);
      assert.ok(Math.min(...sizes) >= 11, `smallest axis label at ${width} px wide: ${Math.min(...sizes).toFixed(1)} px`);
      const heights = await page.locator(".charts .chart-axis").evaluateAll((nodes) => nodes.map((n) => (n as unknown as { getBoundingClientRect(): { height: number } }).getBoundingClientRect().height));
      assert.ok(Math.min(...heights) >= 11, `labels are drawn ≥ 11 px tall (${Math.min(...heights).toFixed(1)})`);
      if (width < 500) {
        const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
        assert.ok(overflow <= 0, `no sideways scrolling on a phone (overflow ${overflow}px)`);
        await page.screenshot({ path: path.join(ARTIFACTS, "charts-day-one-phone.png"), fullPage: true });
      }
      await page.context().close();
    }
  });

  it("days without data say No data in a neutral colour; uptime is over the minutes with data (100 %)", async () => {
    const page = await open();
    const chat = page.locator(".component", { hasText: "Chat" }).first();
    const cells = chat.locator(".cell");
    assert.equal(await cells.count(), 90);
    assert.equal(await chat.locator(".cell.s-nodata").count(), 89);
    for (const label of await chat.locator(".cell.s-nodata").evaluateAll((n) => n.map((c) => (c as unknown as { getAttribute(a: string): string }).getAttribute("aria-label")))) {
      assert.match(label, /^\d{1,2} \w{3,4} \d{4}: No data$/);
    }
    assert.match((await cells.last().getAttribute("aria-label")) ?? "", /operational: 100% uptime$/);
    const colour = (cell: Locator) => cell.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
    const noData = await colour(cells.first());
    const up = await colour(cells.last());
    assert.notEqual(noData, up, "no data is not shown as up");
    assert.notEqual(noData, "rgb(194, 28, 28)", "no data is not shown as down");
    assert.match((await chat.locator(".uptime-figure").textContent()) ?? "", /^100% uptime since \d{1,2} \w{3,4} \d{4}$/);
    const cache = page.locator(".component", { hasText: "Cache" }).first();
    assert.equal(await cache.locator(".cell.s-nodata").count(), 90);
    assert.equal((await cache.locator(".uptime-figure").textContent())?.trim(), "No data yet");
    await page.screenshot({ path: path.join(ARTIFACTS, "uptime-day-one.png"), fullPage: true });
    await page.context().close();
  });

  it("when Chat goes to major outage, the open page shows it with uptime below 100 %, without a reload", async () => {
    const light = await open();
    const dark = await open({ colorScheme: "dark" });
    for (const page of [light, dark]) await page.evaluate("window.marker = 7");
    const res = await fetch(`${base}/admin/api/incidents`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Chat messages not delivered", body: "Messages are not arriving. We are investigating.", components: { chat: "major_outage" } }),
    });
    assert.equal(res.status, 201, await res.text());
    for (const page of [light, dark]) {
      const chat = page.locator(".component", { hasText: "Chat" }).first();
      await chat.locator(".status", { hasText: "Major outage" }).waitFor({ timeout: 15_000 });
      await waitFor("an uptime figure below 100 % next to Major outage", async () => !/^100%/.test((await chat.locator(".uptime-figure").textContent()) ?? "100%"), 15_000, 200);
      assert.match((await chat.locator(".uptime-figure").textContent()) ?? "", /^\d{2}\.\d{2}% uptime since /);
      assert.match((await chat.locator(".cell").last().getAttribute("aria-label")) ?? "", /major outage/);
      assert.equal(await page.evaluate("window.marker"), 7, "updated in place");
    }
    await light.screenshot({ path: path.join(ARTIFACTS, "uptime-major-outage-light.png"), fullPage: true });
    await dark.screenshot({ path: path.join(ARTIFACTS, "uptime-major-outage-dark.png"), fullPage: true });
    for (const page of [light, dark]) await page.context().close();
  });
});
