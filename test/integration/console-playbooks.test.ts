import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { PlaybookRun } from "../../src/playbooks/index.ts";
import { openIncident, type Incident } from "../../src/status/index.ts";
import { ConsoleClient, csrfOf, decodeEntities, issuesOf } from "../helpers/console.ts";
import { startConsolePlaybooks, type ConsolePlaybookStack } from "../helpers/console-playbooks.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The console's playbook pages over real HTTP, signed in with scoped
 * tokens: approve and reject runs of `approve` mode playbooks (the run
 * waits, Approve runs it, the timeline and the audit log credit the
 * person), enable, disable and dry-run a playbook, what holds one back now,
 * a read token's disabled controls, and bad input. Real redis-server, gateway
 * fleet, agent, notify worker and playbook worker.
 */

const ADMIN_TOKEN = "console-playbooks-admin-token-0123456789";
const SCRIPT = "<script>alert(1)</script>";

interface AuditEntry {
  actor: string;
  method: string;
  path: string;
  status: number | null;
}

describe("console playbooks (real redis-server, gateway fleet, playbook worker, console over HTTP)", { timeout: 180_000 }, () => {
  let stack: ConsolePlaybookStack;
  let alice: ConsoleClient;
  let incident: Incident;

  const runOf = (playbook: string, state: PlaybookRun["state"]) => stack.rig.waitForRun(`a ${state} run of ${playbook}`, (r) => r.playbook === playbook && r.state === state && !r.requested, 30_000);
  const audit = async (): Promise<AuditEntry[]> => (await stack.api("GET", "/audit?limit=200")).body.entries;
  const post = async (client: ConsoleClient, from: string, action: string, extra: Record<string, string> = {}) => client.post(action, { _csrf: csrfOf((await client.get(from)).text), ...extra });

  before(async () => {
    stack = await startConsolePlaybooks({
      adminToken: ADMIN_TOKEN,
      playbooks: `
  - id: approve-restart
    name: Restart node-0 after approval
    mode: approve
    trigger: { component: chat }
    steps: [{ action: restart-gateway, target: node, node: node-0 }]
    approval: { timeout: 2m }
  - id: approve-scale
    name: Add a node after approval
    mode: approve
    trigger: { component: realtime-gateway }
    steps: [{ action: scale-out, by: 1, max: 4 }]
    approval: { timeout: 2m }
  - id: hostile
    name: "Drain ${SCRIPT}"
    enabled: false
    trigger: { stat: ready_nodes, below: 0 }
    steps: [{ action: wait, for: 200ms }, { action: notify, channels: [oncall], message: "Would have drained ${SCRIPT}" }]
`,
    });
    alice = new ConsoleClient(stack.base);
    await alice.signIn(await stack.token("alice", ["playbooks"]));
    ({ incident } = await openIncident(stack.rig.status, { name: "Major outage of Chat", body: "Chat: major outage.", components: { chat: "major_outage" }, automatic: true, author: { kind: "automatic", name: "Pulseboard" } }));
    await stack.rig.setStatus("chat", "major_outage");
    await stack.rig.setStatus("realtime-gateway", "major_outage");
    stack.rig.worker("w1");
  });

  after(async () => {
    await stack?.stop();
  });

  it("a playbook in approve mode: the run waits; Approve in the console runs it; the timeline and the audit log credit the person", async () => {
    const proposed = await runOf("approve-restart", "awaiting_approval");
    const before_ = await stack.restarts();
    const list = await alice.get("/admin/playbooks");
    assert.equal(list.status, 200);
    const pending = /<h2 id="pending-heading">Pending approval<\/h2>([\s\S]*?)<\/section>/.exec(list.text)?.[1] ?? "";
    assert.match(pending, new RegExp(`href="/admin/playbooks/runs/${proposed.id}"[^>]*>Review and decide</a>`), "listed under Pending approval, with a way to decide");
    assert.match(pending, /It would restart node-0\. Waits for a decision until/);
    assert.match(list.text, /<strong>Run in progress<\/strong>: its run \w+ awaits approval until <time/, "what holds the playbook back now");

    // The run waits: every evaluation finds its playbook busy with it, and nothing is restarted.
    const worker = stack.rig.worker("w2");
    for (let i = 0; i < 3; i++) assert.ok((await worker.evaluate()).some((v) => v.playbook === "approve-restart" && v.outcome === "busy" && v.run === proposed.id));
    assert.equal((await stack.rig.store.run(proposed.id))!.state, "awaiting_approval");
    assert.deepEqual(await stack.restarts(), before_, "nothing done before approval");

    const page = await alice.get(`/admin/playbooks/runs/${proposed.id}`);
    assert.equal(page.status, 200);
    assert.match(page.text, /Approving runs these steps now, in order, on the gateway target:<\/p><ol class="step-words"><li>restart node-0<\/li><\/ol>/);
    assert.doesNotMatch(page.text, /<fieldset class="controls" disabled>/, "alice may decide");
    const approved = await alice.post(`/admin/playbooks/runs/${proposed.id}/approve`, { _csrf: csrfOf(page.text) });
    assert.equal(approved.status, 303, approved.text);
    assert.equal(approved.location, `/admin/playbooks/runs/${proposed.id}?done=approved`);

    const done = await stack.rig.waitForRun("the approved run to succeed", (r) => r.id === proposed.id && r.state === "succeeded", 60_000);
    assert.deepEqual({ decision: done.approval?.decision, by: done.approval?.by, via: done.approval?.via }, { decision: "approved", by: "alice", via: "console" });
    assert.equal((await stack.restarts())["node-0"], before_["node-0"]! + 1, "node-0 restarted once");
    assert.equal(done.incident, incident.id, "the run reported to the open automatic incident");

    const timeline = (await stack.rig.status.store.incident(incident.id))!.updates;
    const credit = timeline.find((u) => u.author.kind === "person" && u.author.name === "alice");
    assert.ok(credit, `alice is on the timeline: ${JSON.stringify(timeline.map((u) => [u.author, u.body]))}`);
    assert.equal(credit.body, "Automatic recovery (Restart node-0 after approval) approved by alice in the console; it runs now: restart node-0.");
    assert.equal(credit.internal, true, "on the on-call timeline only");
    const entries = await audit();
    assert.ok(entries.some((e) => e.actor === "alice" && e.method === "POST" && e.path === `/admin/playbooks/runs/${proposed.id}/approve` && e.status === 303), JSON.stringify(entries));

    const shown = await alice.get(`/admin/playbooks/runs/${proposed.id}?done=approved`);
    assert.match(shown.text, /<p class="flash" role="status">Approved: the run is queued and starts at once\.<\/p>/);
    assert.match(shown.text, /<strong>Approved<\/strong> by alice in the console, <time/);
    assert.match(shown.text, /<strong>restart node-0<\/strong> <span class="run-state run-state-succeeded">Succeeded<\/span>/);
    assert.match(shown.text, /Started <time[^>]*>[^<]+<\/time> · took \d+(\.\d)? (ms|s)/, "the step's timing");
    assert.match(shown.text, /<p class="step-output">Restarted node-0/, "the step's output");
    assert.match(shown.text, /<a href="\/admin\/incidents\/\w+">its timelines<\/a>/);
    // The incident's page lists the run that acted on it, with how it ended, linking to its steps.
    const incidentPage = await alice.get(`/admin/incidents/${incident.id}`);
    const runs = incidentPage.text.split('<h2 id="runs-heading">Playbook runs</h2>')[1]?.split("</section>")[0] ?? "";
    assert.match(runs, new RegExp(`<a class="run-row-name" href="/admin/playbooks/runs/${proposed.id}">`), `the run on its incident's page: ${runs}`);
    assert.match(runs, /run-state-succeeded">Succeeded</);

    // Decided already: a second Approve says so and changes nothing.
    const twice = await alice.post(`/admin/playbooks/runs/${proposed.id}/approve`, { _csrf: csrfOf(shown.text) });
    assert.equal(twice.status, 409);
    assert.deepEqual(issuesOf(twice.text), ["This run cannot be decided any more: it is succeeded, not awaiting approval"]);
    await worker.close();
  });

  it("a read token sees every playbook control disabled, and its forged POST is 403; a POST without the CSRF token is 403", async () => {
    const viewer = new ConsoleClient(stack.base);
    await viewer.signIn(await stack.token("viewer", ["read"]));
    const pending = await runOf("approve-scale", "awaiting_approval");
    for (const pathname of ["/admin/playbooks", "/admin/playbooks/hostile", `/admin/playbooks/runs/${pending.id}`]) {
      const page = await viewer.get(pathname);
      assert.equal(page.status, 200);
      assert.match(page.text, /Your token can read but not change playbooks \(it needs the <code>playbooks<\/code> scope\)/);
      const fieldsets = [...page.text.matchAll(/<fieldset class="controls"( disabled)?>/g)];
      assert.ok(fieldsets.length >= 2, `${pathname} has its controls`);
      assert.ok(fieldsets.every((f) => f[1] === " disabled"), `${pathname}: every control is disabled`);
    }
    const forged = await post(viewer, `/admin/playbooks/runs/${pending.id}`, `/admin/playbooks/runs/${pending.id}/approve`);
    assert.equal(forged.status, 403);
    assert.match(forged.text, new RegExp(`lacks the &quot;playbooks&quot; scope that POST /admin/api/playbooks/runs/${pending.id}/approve needs`));
    const forgedToggle = await post(viewer, "/admin/playbooks/hostile", "/admin/playbooks/hostile/enable");
    assert.equal(forgedToggle.status, 403);
    const noCsrf = await alice.post(`/admin/playbooks/runs/${pending.id}/approve`, {});
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.text, /CSRF token is missing/);
    assert.equal((await stack.rig.store.run(pending.id))!.state, "awaiting_approval", "nothing changed");
    assert.equal((await stack.api("GET", "/playbooks/hostile")).body.playbook.enabled, false, "nothing changed");
  });

  it("Reject in the console ends the run without doing anything, credited to the person", async () => {
    const proposed = await runOf("approve-scale", "awaiting_approval");
    const nodesBefore = Object.keys(await stack.restarts()).length;
    const rejected = await post(alice, `/admin/playbooks/runs/${proposed.id}`, `/admin/playbooks/runs/${proposed.id}/reject`);
    assert.equal(rejected.status, 303, rejected.text);
    const run = (await stack.rig.store.run(proposed.id))!;
    assert.equal(run.state, "rejected");
    assert.deepEqual({ by: run.approval?.by, via: run.approval?.via }, { by: "alice", via: "console" });
    assert.equal(run.outcome, "Rejected by alice; nothing was done.");
    assert.deepEqual(run.steps.map((s) => s.state), ["pending"]);
    assert.equal(Object.keys(await stack.restarts()).length, nodesBefore, "not scaled out");
    const timeline = (await stack.rig.status.store.incident(incident.id))!.updates;
    assert.ok(timeline.some((u) => u.author.name === "alice" && u.body === "Automatic recovery (Add a node after approval) rejected by alice in the console; nothing was done."), JSON.stringify(timeline.map((u) => u.body)));
    assert.ok((await audit()).some((e) => e.actor === "alice" && e.path === `/admin/playbooks/runs/${proposed.id}/reject` && e.status === 303));
    const page = await alice.get(rejected.location!);
    assert.match(page.text, /<span class="run-state run-state-rejected">Rejected<\/span>/);
    assert.match(page.text, /<strong>Rejected<\/strong> by alice in the console/);
    assert.doesNotMatch(page.text, />Approve<\/button>/, "nothing left to decide");
  });

  it("enables, disables and dry-runs a playbook from its page; each is audited and credited", async () => {
    const enabled = async () => (await stack.api("GET", "/playbooks/hostile")).body.playbook.enabled as boolean;
    assert.equal(await enabled(), false);
    const on = await post(alice, "/admin/playbooks/hostile", "/admin/playbooks/hostile/enable");
    assert.equal(on.status, 303);
    assert.equal(on.location, "/admin/playbooks/hostile?done=enabled");
    assert.equal(await enabled(), true);
    const shown = await alice.get(on.location!);
    assert.match(shown.text, /Enabled: its trigger starts runs again\./);
    assert.match(shown.text, /aria-label="Disable Drain &lt;script&gt;alert\(1\)&lt;\/script&gt;">Disable<\/button>/, "the form now offers the other way");
    const off = await post(alice, "/admin/playbooks/hostile", "/admin/playbooks/hostile/disable");
    assert.equal(off.status, 303);
    assert.equal(await enabled(), false);
    assert.match((await alice.get("/admin/playbooks/hostile")).text, /<strong>Switched off<\/strong>: switched off through the admin API or the console/);

    const dry = await post(alice, "/admin/playbooks/hostile", "/admin/playbooks/hostile/dry-run");
    assert.equal(dry.status, 303, dry.text);
    const id = /^\/admin\/playbooks\/runs\/(\w+)\?done=dry-run$/.exec(dry.location ?? "")?.[1];
    assert.ok(id, dry.location ?? "");
    const run = await stack.rig.waitForRun("the dry run to end", (r) => r.id === id && r.state === "succeeded", 30_000);
    assert.deepEqual({ mode: run.mode, by: run.requested?.by, via: run.requested?.via }, { mode: "dry-run", by: "alice", via: "console" });
    assert.equal(run.steps[1]!.summary, `Would post to oncall: "Would have drained ${SCRIPT}". Nothing was changed (dry run).`);
    const page = await alice.get(`/admin/playbooks/runs/${id}`);
    assert.match(page.text, /<span class="tag">dry run: nothing is changed<\/span>/);
    assert.match(page.text, /<dt>Asked for<\/dt><dd>by alice in the console, <time/);
    const paths = (await audit()).filter((e) => e.actor === "alice").map((e) => `${e.path} ${e.status}`);
    for (const action of ["enable", "disable", "dry-run"]) assert.ok(paths.includes(`/admin/playbooks/hostile/${action} 303`), paths.join("\n"));
  });

  it("bad input: a name sent with the form, hostile ids, a 1 MiB field; markup in names and outputs shown escaped", async () => {
    const csrf = csrfOf((await alice.get("/admin/playbooks")).text);
    const impersonating = await alice.post("/admin/playbooks/hostile/enable", { _csrf: csrf, by: "mallory" });
    assert.equal(impersonating.status, 400);
    assert.match(decodeEntities(impersonating.text), /Nothing was done: this form takes no fields, but it had "by"\./);
    const huge = await alice.post("/admin/playbooks/hostile/dry-run", { _csrf: csrf, note: "m".repeat(1024 * 1024) });
    assert.equal(huge.status, 400);
    assert.match(decodeEntities(huge.text), /this form takes no fields, but it had "note"/);
    assert.equal((await stack.api("GET", "/playbooks/hostile")).body.playbook.enabled, false, "nothing changed");
    assert.equal((await stack.rig.runs("hostile")).length, 1, "no second dry run");

    for (const pathname of [`/admin/playbooks/${encodeURIComponent(SCRIPT)}`, `/admin/playbooks/runs/${encodeURIComponent(SCRIPT)}`]) {
      const page = await alice.get(pathname);
      assert.equal(page.status, 404);
      assert.ok(!page.text.includes("<script>"), `${pathname}: nothing unescaped`);
    }
    const hostileRun = await alice.post(`/admin/playbooks/runs/${encodeURIComponent(SCRIPT)}/approve`, { _csrf: csrf });
    assert.equal(hostileRun.status, 404);
    assert.match(hostileRun.text, /There is no such playbook run/);
    assert.ok(!hostileRun.text.includes("<script>"));

    const dry = (await stack.rig.runs("hostile"))[0]!;
    for (const pathname of ["/admin/playbooks", "/admin/playbooks/hostile", `/admin/playbooks/runs/${dry.id}`]) {
      const page = await alice.get(pathname);
      assert.equal(page.status, 200);
      assert.ok(!page.text.includes("<script>"), `${pathname}: no <script> tag`);
      assert.ok(page.text.includes("Drain &lt;script&gt;alert(1)&lt;/script&gt;"), `${pathname} shows the name as text`);
    }
    assert.ok((await alice.get(`/admin/playbooks/runs/${dry.id}`)).text.includes("Would have drained &lt;script&gt;"), "the step's output is escaped");
  });
});
