import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, type Page } from "playwright-core";
import { openIncident } from "../../src/status/index.ts";
import { startConsolePlaybooks, type ConsolePlaybookStack } from "../helpers/console-playbooks.ts";
import { ARTIFACTS, launchChromium, openPage, signInWithToken, type PageOptions } from "../helpers/browser.ts";

const ADMIN_TOKEN = "console-playbooks-browser-admin-token-0123456789";

/**
 * The console's playbook pages in real headless Chromium: a person approves
 * a proposed run by its buttons, and the pages are photographed (light,
 * dark, phone). Real redis-server, gateway fleet, agent and playbook worker;
 * the web app over real HTTP.
 */
describe("console playbooks in real headless Chromium (slow: gateway fleet, playbook worker, real redis-server)", { timeout: 240_000 }, () => {
  let stack: ConsolePlaybookStack;
  let browser: Browser;
  let alice: string;

  const open = (options: PageOptions = {}) => openPage(browser, options);

  const signIn = (page: Page, token: string) => signInWithToken(page, stack.base, token);

  before(async () => {
    stack = await startConsolePlaybooks({
      adminToken: ADMIN_TOKEN,
      playbooks: `
  - id: restart-stuck-node
    name: Restart a stuck gateway node
    mode: approve
    trigger: { component: chat }
    steps:
      - { action: restart-gateway, target: node, node: node-0 }
      - { action: verify, probes: [gateway-connect], within: 15s }
      - { action: wait, for: 200ms }
    on_failure:
      escalate: [oncall]
      steps: [{ action: notify, channels: [oncall], message: "Restart node-0 by hand." }]
    approval: { timeout: 5m }
  - id: bypass-clogged-cache
    name: Bypass a clogged cache
    trigger: { component: realtime-gateway, status: partial_outage }
    steps: [{ action: bypass-cache }, { action: verify, probes: [gateway-connect], within: 15s }]
    guards: { cooldown: 5m, max_runs: 3, per: 1h, once_per_episode: true }
  - id: add-a-node
    name: Add a node in a surge
    enabled: false
    trigger: { stat: connections_ratio, above: 0.8, for: 10s }
    steps: [{ action: scale-out, by: 1, max: 4 }]
`,
    });
    alice = await stack.token("alice", ["playbooks"]);
    await openIncident(stack.rig.status, { name: "Major outage of Chat", body: "Chat: major outage.", components: { chat: "major_outage" }, automatic: true, author: { kind: "automatic", name: "Pulseboard" } });
    await stack.rig.setStatus("chat", "major_outage");
    stack.rig.worker("w1");
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("a person approves a proposed run with the page's buttons; the run's page shows each step with its timing and output", async () => {
    const proposed = await stack.rig.waitForRun("the proposed restart", (r) => r.playbook === "restart-stuck-node" && r.state === "awaiting_approval", 30_000);
    const before_ = await stack.restarts();
    const { context, page, problems } = await open();
    await signIn(page, alice);
    await page.getByRole("link", { name: "Playbooks" }).click();
    await page.waitForURL(/\/admin\/playbooks$/);
    const pending = page.locator("section", { has: page.getByRole("heading", { name: "Pending approval" }) });
    await pending.getByRole("link", { name: "Review and decide: Restart a stuck gateway node" }).click();
    await page.waitForURL(new RegExp(`/admin/playbooks/runs/${proposed.id}$`));
    assert.match((await page.locator(".approval").textContent()) ?? "", /Approving runs these steps now, in order, on the gateway target:\s*restart node-0\s*verify gateway-connect within 15s\s*wait 200ms/);
    await page.screenshot({ path: path.join(ARTIFACTS, "console-playbooks-approval-light.png"), fullPage: true });
    await page.getByRole("button", { name: "Approve" }).click();
    await page.locator(".flash", { hasText: "Approved: the run is queued and starts at once." }).waitFor();

    const done = await stack.rig.waitForRun("the approved run to succeed", (r) => r.id === proposed.id && r.state === "succeeded", 60_000);
    assert.equal(done.approval?.by, "alice");
    assert.equal((await stack.restarts())["node-0"], before_["node-0"]! + 1, "node-0 restarted once");
    await page.reload();
    const steps = page.locator("section", { has: page.getByRole("heading", { name: "Steps", exact: true }) }).locator(".step");
    assert.equal(await steps.count(), 3);
    for (let i = 0; i < 3; i++) {
      assert.match((await steps.nth(i).locator(".step-time").textContent()) ?? "", /^Started .+ · took \d/, `step ${i + 1} has its timing`);
      assert.equal(await steps.nth(i).locator(".run-state").textContent(), "Succeeded");
    }
    assert.match((await steps.nth(0).locator(".step-output").textContent()) ?? "", /^Restarted node-0/);
    assert.match((await steps.nth(1).locator(".step-output").textContent()) ?? "", /Gateway connect/);
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
    await context.close();
  });

  it("screenshots of the playbooks list and one run's page: light, dark and phone, nothing wider than a phone", async () => {
    const run = (await stack.rig.runs("restart-stuck-node")).find((r) => r.state === "succeeded")!;
    assert.ok(run, "the approved run is there to show");
    // A dry run, so the list shows one beside the real run.
    assert.equal((await stack.api("POST", "/playbooks/add-a-node/dry-run", undefined, alice)).status, 202);
    await stack.rig.waitForRun("the dry run to end", (r) => r.playbook === "add-a-node" && r.state === "succeeded", 30_000);
    for (const [mode, options] of [["light", { colorScheme: "light" }], ["dark", { colorScheme: "dark" }], ["phone", { phone: true }]] as const) {
      const { context, page, problems } = await open(options);
      await signIn(page, alice);
      if (mode === "dark") assert.notEqual(await page.evaluate("getComputedStyle(document.body).backgroundColor"), "rgb(247, 248, 250)", "dark mode follows prefers-color-scheme");
      for (const [name, pathname] of [["playbooks", "/admin/playbooks"], ["run", `/admin/playbooks/runs/${run.id}`]] as const) {
        await page.goto(`${stack.base}${pathname}`);
        if (name === "run") for (const details of await page.locator(".step details").all()) await details.evaluate((d) => ((d as { open: boolean }).open = true));
        if (mode === "phone") {
          const overflow = (await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")) as number;
          assert.ok(overflow <= 0, `${pathname}: no sideways scrolling on a phone (overflow ${overflow}px)`);
        }
        await page.screenshot({ path: path.join(ARTIFACTS, `console-playbooks-${name === "run" ? "run-" : ""}${mode}.png`), fullPage: true });
      }
      assert.deepEqual(problems, []);
      await context.close();
    }
  });
});
