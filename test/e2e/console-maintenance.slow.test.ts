import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page } from "playwright-core";
import { advanceMaintenances, cancelMaintenance, openIncident, resolveIncident, scheduleMaintenance } from "../../src/status/index.ts";
import { ARTIFACTS, launchChromium, openPage, signInWithToken, type PageOptions } from "../helpers/browser.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

const TOKEN = "console-maintenance-browser-token-0123456789";
const HOUR = 3_600_000;
const PERSON = { kind: "person", name: "alice" } as const;

/** A datetime-local value (UTC) `ms` from now, to the minute. */
function localIn(ms: number): string {
  return new Date(Date.now() + ms).toISOString().slice(0, 16);
}

/**
 * The console's maintenance pages and the postmortem form in real headless
 * Chromium: a person schedules, edits and cancels a window by its labels
 * and buttons, writes a postmortem, and the list and form are photographed
 * (light, dark, phone). The web app over real HTTP on a real redis-server.
 */
describe("console maintenance in real headless Chromium (slow: real redis-server, real HTTP)", { timeout: 180_000 }, () => {
  let rig: WebRig;
  let server: http.Server;
  let base: string;
  let browser: Browser;

  const open = (options: PageOptions = {}) => openPage(browser, options);
  const signIn = (page: Page) => signInWithToken(page, base, TOKEN);

  before(async () => {
    rig = await startWebRig(`
page: { name: "Lumen Live", url: "http://127.0.0.1:1", time_zone: UTC }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }, { id: chat, name: Chat }, { id: qa, name: "Q&A" }]
`, { tokens: [TOKEN] });
    server = http.createServer(rig.app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // One window of each kind, so the list's three sections have something to show.
    const running = await scheduleMaintenance(rig.status, { name: "Gateway node rotation", components: ["realtime-gateway"], scheduled_for: new Date(Date.now() - 60_000).toISOString(), scheduled_until: new Date(Date.now() + HOUR).toISOString(), body: "Nodes restart one at a time; clients reconnect once.", author: PERSON });
    await advanceMaintenances(rig.status);
    assert.equal((await rig.status.store.maintenance(running.maintenance.id))!.status, "in_progress");
    const done = await scheduleMaintenance(rig.status, { name: "Q&A database upgrade", components: ["qa"], scheduled_for: new Date(Date.now() + 5 * HOUR).toISOString(), scheduled_until: new Date(Date.now() + 6 * HOUR).toISOString(), body: "Q&A is read-only for 10 minutes.", author: PERSON });
    await cancelMaintenance(rig.status, { id: done.maintenance.id, body: "Moved to next week.", author: PERSON });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    server?.close();
    await rig?.stop();
  });

  it("a person schedules, edits and cancels a window by its labels and buttons", async () => {
    const { context, page, problems } = await open();
    await signIn(page);
    await page.getByRole("link", { name: "Maintenance", exact: true }).click();
    await page.waitForURL(/\/admin\/maintenance$/);
    await page.getByRole("link", { name: "Schedule maintenance" }).click();
    await page.getByLabel("Name").fill("Chat cache upgrade");
    await page.getByLabel("Chat", { exact: true }).check();
    const starts = localIn(2 * HOUR);
    await page.getByLabel("Starts (UTC)").fill(starts);
    await page.getByLabel("Ends (UTC)").fill(localIn(3 * HOUR));
    await page.getByLabel("Message").fill("Chat may reconnect once during the upgrade.");
    await page.getByRole("button", { name: "Schedule" }).click();
    await page.locator(".flash", { hasText: "Maintenance scheduled." }).waitFor();
    const id = /\/admin\/maintenance\/([\w-]+)\?done=scheduled$/.exec(page.url())?.[1];
    assert.ok(id, page.url());
    assert.equal((await rig.status.store.maintenance(id))!.scheduled_for, `${starts}:00.000Z`);

    await page.getByLabel("Name").fill("Chat cache upgrade (longer)");
    await page.getByLabel("Ends (UTC)").fill(localIn(4 * HOUR));
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.locator(".flash", { hasText: "Changes saved." }).waitFor();
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Chat cache upgrade (longer)");

    await page.getByRole("button", { name: "Cancel this window…" }).click();
    await page.getByRole("heading", { name: "Cancel Chat cache upgrade (longer)?" }).waitFor();
    assert.equal((await rig.status.store.maintenance(id))!.status, "scheduled", "asking cancelled nothing");
    await page.getByLabel("Message").fill("Not needed: the cache was upgraded in place.");
    await page.getByRole("button", { name: "Cancel the window" }).click();
    await page.locator(".flash", { hasText: "Maintenance cancelled." }).waitFor();
    assert.equal((await rig.status.store.maintenance(id))!.status, "completed");
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
    await context.close();
  });

  it("a person writes a resolved incident's postmortem on its page, without JavaScript", async () => {
    const { incident } = await openIncident(rig.status, { name: "Chat outage", status: "investigating", body: "Chat is down.", components: { chat: "major_outage" }, author: PERSON });
    await resolveIncident(rig.status, { id: incident.id, author: PERSON });
    const { context, page } = await open({ javaScript: false });
    await signIn(page);
    await page.goto(`${base}/admin/incidents/${incident.id}`);
    await page.getByLabel("Postmortem", { exact: true }).fill("A connection-limit safeguard locked.\nWe now monitor the safeguard itself.");
    await page.getByRole("button", { name: "Publish the postmortem" }).click();
    await page.locator(".flash", { hasText: "Postmortem saved" }).waitFor();
    assert.equal((await rig.status.store.incident(incident.id))!.postmortem, "A connection-limit safeguard locked.\nWe now monitor the safeguard itself.");
    await page.screenshot({ path: path.join(ARTIFACTS, "console-maintenance-postmortem-light.png"), fullPage: true });
    await context.close();
  });

  it("screenshots of the maintenance list and form: light, dark and phone, nothing wider than a phone", async () => {
    await scheduleMaintenance(rig.status, { name: "Realtime gateway TLS certificate rotation", components: ["realtime-gateway", "chat"], scheduled_for: new Date(Date.now() + 26 * HOUR).toISOString(), scheduled_until: new Date(Date.now() + 27 * HOUR).toISOString(), body: "Connections are moved to new certificates; expect one reconnect.", author: PERSON });
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await signIn(page);
      if (mode === "dark") assert.notEqual(await page.evaluate("getComputedStyle(document.body).backgroundColor"), "rgb(247, 248, 250)", "dark mode follows prefers-color-scheme");
      for (const [name, pathname] of [["list", "/admin/maintenance"], ["form", "/admin/maintenance/new"]] as const) {
        await page.goto(`${base}${pathname}`);
        if (mode === "phone") {
          const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
          assert.ok(overflow <= 0, `${pathname}: no sideways scrolling on a phone (overflow ${overflow}px)`);
        }
        await page.screenshot({ path: path.join(ARTIFACTS, `console-maintenance-${name === "form" ? "form-" : ""}${mode}.png`), fullPage: true });
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
