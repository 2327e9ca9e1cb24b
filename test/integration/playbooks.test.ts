import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import request from "supertest";
import { advanceMaintenances, cancelMaintenance, openIncident, scheduleMaintenance, type Author } from "../../src/status/index.ts";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { playbookWebApp, spawnPlaybookWorker, startPlaybookRig, type PlaybookRig } from "../helpers/playbooks.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * The playbook engine on real parts: a real redis-server, a real gateway
 * fleet (its own process tree, faults enabled) driven by the local fleet
 * driver, a real agent running verify's probes, the notify worker posting
 * to a real HTTP receiver, and the playbook workers in this process.
 */

const ADMIN_TOKEN = "playbook-test-admin-token";
const PEOPLE: Author = { kind: "person", name: "test" };

interface NodeView {
  id: string;
  state: string;
  port: number;
  restarts: number;
}

/** Connections one node of the suite's fleet accepts: small enough to fill. */
const NODE_LIMIT = 20;

describe("playbooks (real redis-server, gateway fleet, agent, receivers)", { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  let hook: HttpReceiver;
  let rig: PlaybookRig | undefined;

  const nodes = async (): Promise<NodeView[]> => (await fleet.admin("GET", "/nodes")).body.nodes;
  const restarts = async (): Promise<Record<string, number>> => Object.fromEntries((await nodes()).map((n) => [n.id, n.restarts]));
  const rigWith = async (playbooks: string): Promise<PlaybookRig> => (rig = await startPlaybookRig({ redis, fleet, hook, playbooks }));
  /** Posts the on-call receiver got for one run. */
  const postsAbout = (run: string) => hook.requests.filter((r) => JSON.stringify(r.json).includes(run)).map((r) => r.json as { data: { urgency: string; update: { body: string } } });

  const webApp = (r: PlaybookRig) => playbookWebApp(r, redis.url, ADMIN_TOKEN);
  const admin = (method: "get" | "post", url: string, app: ReturnType<typeof webApp>["app"]) => request(app)[method](`/admin/api${url}`).set("authorization", `Bearer ${ADMIN_TOKEN}`);

  before(async () => {
    redis = await startRedis();
    hook = await HttpReceiver.start({ status: 204, body: "" });
    fleet = await startTestFleet({ nodes: 2, yaml: `  max_connections: ${NODE_LIMIT}` });
  });
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });
  after(async () => {
    await fleet?.stop();
    await hook?.stop();
    await redis?.stop();
  });

  it("escalates once when verify keeps failing, then stops while the trigger keeps firing", async () => {
    const r = await rigWith(`
  - id: verify-fails
    trigger: { component: chat, status: major_outage }
    steps:
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [dead-end], within: 2s }
      - { action: wait, for: 1s }
    guards: { cooldown: 1s, max_runs: 10, per: 1h }
    on_failure:
      escalate: [oncall]
      steps: [{ action: notify, channels: [oncall], message: "Fallback: the gateway needs a person." }]
`);
    const before_ = await restarts();
    const { incident } = await openIncident(r.status, { name: "Major outage of Chat", body: "Chat: major outage.", components: { chat: "major_outage" }, automatic: true, author: PEOPLE });
    await r.setStatus("chat", "major_outage");
    r.worker("w1");
    const run = await r.waitForRun("the run to fail", (x) => x.state === "failed");
    // The trigger keeps firing well past the cooldown: no second run, no second page.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal((await r.runs()).length, 1, "one run");
    assert.equal(run.incident, incident.id, "the run joined the open automatic incident");
    assert.deepEqual(run.steps.map((s) => s.state), ["succeeded", "failed", "pending"], "the steps after the failed verify did not run");
    assert.match(run.steps[0]!.summary!, /No gateway node is failing/);
    assert.match(run.steps[1]!.summary!, /Verification failed after .*Dead end failed \(local: failed/);
    assert.deepEqual(run.fallback.map((s) => s.state), ["succeeded"], "the fallback step ran");
    assert.deepEqual(run.escalation?.channels, ["oncall"]);
    assert.equal((await r.store.state("verify-fails")).tripped, run.id, "held until the trigger clears");
    assert.deepEqual(await restarts(), before_, "nothing restarted: no node was failing");

    const posts = await waitFor("the escalation and the fallback post", () => (postsAbout(run.id).length >= 2 ? postsAbout(run.id) : undefined), 10_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pages = postsAbout(run.id).filter((p) => p.data.urgency === "high");
    assert.equal(pages.length, 1, "paged once");
    assert.match(pages[0]!.data.update.body, /Automatic recovery failed and needs a person[\s\S]*Failed at step 2 of 3: verify dead-end/);
    assert.ok(posts.some((p) => p.data.update.body.startsWith("Fallback: the gateway needs a person.")));

    const timeline = (await r.status.store.incident(incident.id))!.updates.map((u) => u.detail ?? u.body);
    assert.equal(timeline.length, 1 + 2 + 1 + 1, "opened, two steps, the failure, the fallback step");
    assert.match(timeline[1]!, /^Automatic recovery \(verify-fails\), step 1 of 3: restart the failing gateway nodes\. No gateway node is failing.* Took \d+/);
    assert.match(timeline[2]!, /step 2 of 3: verify dead-end within 2s\. Failed: Verification failed/);
    assert.match(timeline[3]!, /did not work: verify dead-end within 2s failed: .* On-call engineers have been paged\./);
    const publicStory = (await r.status.store.incident(incident.id))!.updates.filter((u) => !u.internal).map((u) => `${u.status}: ${u.body}`);
    assert.deepEqual(publicStory.slice(1), ["identified: We have found the cause of the problem with Chat and are fixing it."], "the public hears the repair began, and nothing of steps, probes or paging");

    // The trigger clears: the playbook is armed again.
    await r.setStatus("chat", "operational");
    await waitFor("the playbook to be armed again", async () => (await r.store.state("verify-fails")).tripped === undefined, 5_000, 50);
  });

  it("holds to the cooldown and the max-runs guard under a trigger that keeps firing", async () => {
    const r = await rigWith(`
  - id: flapping
    trigger: { component: chat, status: partial_outage }
    steps: [{ action: wait, for: 200ms }]
    guards: { cooldown: 1500ms, max_runs: 3, per: 1m }
`);
    await r.setStatus("chat", "major_outage");
    r.worker("w1");
    r.worker("w2");
    await waitFor("three runs to end", async () => (await r.runs()).filter((x) => x.state === "succeeded").length === 3, 20_000, 100);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const runs = (await r.runs()).reverse();
    assert.equal(runs.length, 3, "no fourth run within the window");
    for (let i = 1; i < runs.length; i++) {
      const gap = Date.parse(runs[i]!.created_at) - Date.parse(runs[i - 1]!.ended_at!);
      assert.ok(gap >= 1_500, `run ${i + 1} started ${gap} ms after run ${i} ended (cooldown 1.5 s)`);
    }
    const state = await r.store.state("flapping");
    assert.equal(state.refused?.guard, "max_runs");
    assert.ok(Date.parse(state.refused!.until!) > Date.now(), "until the oldest run leaves the window");
    for (const run of runs) assert.equal(run.incident !== undefined && run.opened_incident, true, "no automatic incident: each run opened (and resolved) its own");
    const incidents = await r.status.store.incidents(runs.map((x) => x.incident!));
    assert.deepEqual(incidents.map((i) => i.status), ["resolved", "resolved", "resolved"]);
  });

  it("runs a once-per-episode playbook once while its trigger keeps firing, and again after it cleared", async () => {
    const r = await rigWith(`
  - id: mitigate
    trigger: { component: chat, status: partial_outage }
    steps: [{ action: wait, for: 100ms }]
    guards: { cooldown: 200ms, max_runs: 10, per: 1m, once_per_episode: true }
`);
    await r.setStatus("chat", "major_outage");
    r.worker("w1");
    const first = await r.waitForRun("the first run", (x) => x.state === "succeeded", 20_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.equal((await r.runs()).length, 1, "no second run while the trigger has not cleared");
    assert.equal((await r.store.state("mitigate")).mitigated, first.id);
    await r.setStatus("chat", "operational");
    await waitFor("the mitigation to be cleared with the trigger", async () => (await r.store.state("mitigate")).mitigated === undefined, 10_000, 100);
    await r.setStatus("chat", "major_outage");
    await r.waitForRun("a run for the new episode", (x) => x.id !== first.id && x.state === "succeeded", 20_000);
  });

  it("waits for approval in approve mode: runs once approved through the link, expires otherwise", async () => {
    const r = await rigWith(`
  - id: approve-restart
    mode: approve
    trigger: { component: chat }
    steps: [{ action: restart-gateway, target: node, node: node-0 }]
    approval: { timeout: 10s, channels: [oncall] }
    guards: { cooldown: 1s }
  - id: nobody-answers
    mode: approve
    trigger: { component: realtime-gateway }
    steps: [{ action: scale-out, by: 1, max: 4 }]
    approval: { timeout: 10s }
`);
    const { app, close } = webApp(r);
    try {
      const before_ = await restarts();
      await r.setStatus("chat", "major_outage");
      await r.setStatus("realtime-gateway", "major_outage");
      r.worker("w1");
      const proposed = await r.waitForRun("the proposed restart", (x) => x.playbook === "approve-restart" && x.state === "awaiting_approval");
      const ask = await waitFor("the approval request", () => postsAbout(proposed.id).find((p) => /Approval needed/.test(p.data.update.body)), 10_000, 50);
      assert.equal(ask.data.urgency, "high");
      const link = /(http:\/\/status\.test\/admin\/api\/playbooks\/approve\/\S+)/.exec(ask.data.update.body)?.[1];
      assert.ok(link, ask.data.update.body);
      const path = new URL(link).pathname;

      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal((await r.store.run(proposed.id))!.state, "awaiting_approval", "it waits");
      assert.deepEqual(await restarts(), before_, "nothing done before approval");

      const list = await request(app).get("/admin/api/playbooks").set("authorization", `Bearer ${ADMIN_TOKEN}`).expect(200);
      assert.equal(list.body.playbooks.find((p: { id: string }) => p.id === "approve-restart").state.active, proposed.id);
      await request(app).get("/admin/api/playbooks").expect(401);
      const shown = await request(app).get(path).expect(200).expect("content-type", /html/);
      assert.match(shown.text, /Approve approve-restart\?[\s\S]*restart node-0/);
      assert.equal((await r.store.run(proposed.id))!.state, "awaiting_approval", "opening the link decides nothing");
      await request(app).post(path).type("form").send({ decision: "approve" }).expect(200).expect(/Approved/);
      await request(app).post(path).type("form").send({ decision: "approve" }).expect(400).expect(/used already/);
      await request(app).post(`${path.slice(0, -3)}abc`).type("form").send({ decision: "approve" }).expect(400).expect(/not valid/);

      const done = await r.waitForRun("the approved run to succeed", (x) => x.id === proposed.id && x.state === "succeeded");
      assert.equal(done.approval?.decision, "approved");
      assert.equal(done.approval?.via, "link");
      assert.equal((await restarts())["node-0"], before_["node-0"]! + 1, "node-0 restarted once");
      const audit = await request(app).get(`/admin/api/playbooks/runs/${proposed.id}`).set("authorization", `Bearer ${ADMIN_TOKEN}`).expect(200);
      assert.equal(audit.body.run.steps[0].state, "succeeded");

      // Nobody approves the other one: it expires after its timeout and does nothing.
      const unanswered = await r.waitForRun("the unanswered run to expire", (x) => x.playbook === "nobody-answers" && x.state === "expired", 20_000);
      assert.equal(unanswered.approval?.decision, "expired");
      assert.equal((await nodes()).length, 2, "not scaled out");
      await request(app).post(`/admin/api/playbooks/runs/${unanswered.id}/approve`).set("authorization", `Bearer ${ADMIN_TOKEN}`).expect(400).expect(/expired, not awaiting approval/);
    } finally {
      await close();
    }
  });

  it("switches a playbook off and on through the admin API without a restart, and lists its runs with secrets masked", async () => {
    const r = await rigWith(`
  - id: switchable
    trigger: { component: chat }
    steps: [{ action: wait, for: 100ms }]
    on_failure:
      steps: [{ action: webhook, url: "http://127.0.0.1:9/hook?key=s3cret-key", headers: { authorization: "Bearer s3cret-token" } }]
`);
    const { app, close } = webApp(r);
    try {
      const off = await admin("post", "/playbooks/switchable/disable", app).expect(200);
      assert.equal(off.body.playbook.enabled, false);
      assert.equal(off.body.playbook.toggled, true);
      await r.setStatus("chat", "major_outage");
      const worker = r.worker("w1");
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.deepEqual(await r.runs(), [], "a disabled playbook does not run");
      assert.ok((await worker.evaluate()).some((v) => v.playbook === "switchable" && v.outcome === "disabled"));

      await admin("post", "/playbooks/switchable/enable", app).expect(200);
      const run = await r.waitForRun("the run once enabled", (x) => x.state === "succeeded", 10_000);
      const listed = await admin("get", "/playbooks/runs?playbook=switchable", app).expect(200);
      assert.deepEqual(listed.body.runs.map((x: { id: string }) => x.id), [run.id]);
      const one = await admin("get", `/playbooks/runs/${run.id}`, app).expect(200);
      assert.equal(one.body.run.steps[0].summary, "Waited 100ms.");
      const all = await admin("get", "/playbooks", app).expect(200);
      assert.doesNotMatch(JSON.stringify([all.body, one.body]), /s3cret/, "webhook secrets are masked");
      assert.equal(all.body.playbooks[0].last_run.id, run.id);
      const refused = await admin("post", "/playbooks/validate", app)
        .send({ id: "draft", trigger: { component: "chat" }, steps: [{ action: "scale-out", max: 0 }, { action: "verify", probes: ["nope"] }] })
        .expect(400);
      assert.deepEqual(refused.body.issues, ["playbook.steps[0].max: must be ≥ 1", 'playbook.steps[1].probes[0]: no probe has the id "nope"']);
      const accepted = await admin("post", "/playbooks/validate", app).send({ id: "draft", trigger: { probe: "gateway-connect", for: "5s" }, steps: [{ action: "restart-gateway" }] }).expect(200);
      assert.equal(accepted.body.playbook.trigger.forMs, 5_000);
      await admin("get", "/playbooks/nope", app).expect(404);
      await admin("get", "/playbooks/runs/nope", app).expect(404);
      await admin("post", "/playbooks/nope/enable", app).expect(404);
    } finally {
      await close();
    }
  });

  it("never shows a command's secret arguments: not in its label, its summary, its details or the incident's timeline", async () => {
    const r = await rigWith(`
  - id: secret-args
    trigger: { component: chat }
    steps:
      - { action: command, command: [sh, -c, "echo denied for $1 >&2; exit 3", sh, --token=cmd-secret-token-9, --password, cmd-secret-pass-8, "API_KEY=cmd-secret-key-7"] }
`);
    await r.setStatus("chat", "major_outage");
    r.worker("w1");
    const run = await r.waitForRun("the command to fail", (x) => x.state === "failed", 10_000);
    const step = run.steps[0]!;
    assert.match(step.label, /--token=\[redacted\] --password \[redacted\] API_KEY=\[redacted\]/, step.label);
    assert.match(step.summary!, /exit 3 \(denied for --token=\[redacted\]\)/, "the reason stays, the secret it echoed goes");
    const incident = await r.status.store.incident(run.incident!);
    const shown = JSON.stringify({ step: { ...step, settings: undefined }, timeline: incident?.updates.map((u) => u.detail ?? u.body) });
    assert.match(shown, /Automatic recovery \(secret-args\), step 1 of 1/, "the step is on the timeline");
    assert.doesNotMatch(shown, /cmd-secret/);
  });

  it("scales out, then scales back in through the restore steps once the trigger has been clear long enough", async () => {
    const r = await rigWith(`
  - id: surge
    trigger: { component: realtime-gateway, status: degraded_performance }
    steps:
      - { action: scale-out, by: 1, max: 3 }
      - { action: verify, probes: [gateway-connect], within: 10s }
    restore:
      after: 1s
      steps: [{ action: scale-in, min: 2, stabilization: 1s }]
`);
    assert.equal((await nodes()).length, 2);
    await r.setStatus("realtime-gateway", "degraded_performance");
    r.worker("w1");
    const recovery = await r.waitForRun("the scale-out", (x) => x.kind === "recovery" && x.state === "succeeded", 20_000);
    assert.match(recovery.steps[0]!.summary!, /Scaled the gateway fleet from 2 to 3 nodes/);
    assert.deepEqual(recovery.steps[0]!.intent, { replicas: 3, from: 2 }, "the count it asked for was recorded before asking");
    assert.equal((await nodes()).length, 3);
    assert.equal((await r.store.state("surge")).restore_pending, recovery.id);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal((await r.runs()).length, 1, "no restore while the trigger still fires");

    await r.setStatus("realtime-gateway", "operational");
    const restore = await r.waitForRun("the scale-in", (x) => x.kind === "restore" && x.state === "succeeded", 20_000);
    assert.match(restore.steps[0]!.summary!, /Scaled the gateway fleet from 3 to 2 nodes/);
    assert.equal(restore.incident, recovery.incident, "the restore reports to the recovery's incident");
    assert.equal((await nodes()).length, 2);
    assert.equal((await r.store.state("surge")).restore_pending, undefined);
    const timeline = (await r.status.store.incident(recovery.incident!))!.updates.map((u) => u.detail ?? u.body);
    assert.ok(timeline.some((b) => /surge \(restore\)\), step 1 of 1: scale the gateway in down to at least 2 nodes/.test(b)), timeline.join("\n"));
  });
  it("defers a scale-in while the clients still connected need the nodes, and scales in once they leave", async () => {
    const r = await rigWith(`
  - id: surge
    trigger: { component: realtime-gateway, status: degraded_performance }
    steps: [{ action: scale-out, by: 1, max: 3 }]
    restore:
      after: 1s
      steps: [{ action: scale-in, min: 2, stabilization: 1s, max_load: 0.6 }]
`);
    await r.setStatus("realtime-gateway", "degraded_performance");
    r.worker("w1");
    const recovery = await r.waitForRun("the scale-out", (x) => x.kind === "recovery" && x.state === "succeeded", 20_000);
    await waitFor("three ready nodes", async () => (await nodes()).filter((n) => n.state === "ready").length === 3, 15_000, 100);
    // 26 clients: two nodes of 20 would be 65 % full, over the 60 % the scale-in keeps to.
    const clients: TestClient[] = [];
    try {
      for (const [i, node] of (await nodes()).entries()) {
        for (let c = 0; c < (i === 2 ? 8 : 9); c++) {
          const client = await TestClient.connect(`ws://127.0.0.1:${node.port}/ws`);
          clients.push(client);
          await client.next((f) => f.type === "welcome");
        }
      }
      await r.setStatus("realtime-gateway", "operational");
      const deferred = await r.waitForRun("a deferred restore", (x) => x.kind === "restore" && x.state === "succeeded", 20_000);
      assert.match(deferred.outcome!, /^Deferred at scale-in: Not scaled in yet: the gateway fleet's 26 connections need all 3 nodes to stay under 60 % of the connection limit\. The restore is tried again once the trigger has been clear for another 1s\.$/);
      assert.equal(deferred.steps[0]!.deferred, true);
      assert.equal((await nodes()).length, 3, "still three nodes");
      assert.equal((await r.store.state("surge")).restore_pending, recovery.id, "the restore is still pending");
    } finally {
      for (const client of clients) client.close();
    }
    const restore = await r.waitForRun("the scale-in once the clients left", (x) => x.kind === "restore" && x.state === "succeeded" && !x.outcome!.startsWith("Deferred"), 20_000);
    assert.match(restore.steps[0]!.summary!, /Scaled the gateway fleet from 3 to 2 nodes/);
    assert.equal((await r.store.state("surge")).restore_pending, undefined);
    const timeline = (await r.status.store.incident(recovery.incident!))!.updates.map((u) => u.detail ?? u.body);
    assert.ok(timeline.some((b) => /surge \(restore\)\), step 1 of 1: .*Not scaled in yet/.test(b)), "the deferral is on the timeline");
    await waitFor("two nodes", async () => (await nodes()).length === 2, 15_000, 100);
  });

  it("changes nothing in dry-run mode, and records what it would have done", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-dry-run-"));
    const marker = path.join(dir, "ran");
    try {
      const r = await rigWith(`
  - id: rehearsal
    mode: dry-run
    trigger: { component: chat }
    steps:
      - { action: restart-gateway, target: rolling }
      - { action: scale-out, by: 1, max: 4 }
      - { action: restore-cache }
      - { action: wait, for: 1m }
      - { action: verify, probes: [dead-end], within: 30s }
      - { action: command, command: [touch, "${marker}"] }
      - { action: webhook, url: "${hook.url("/user-hook")}" }
    on_failure: { escalate: [oncall] }
`);
      const before_ = { restarts: await restarts(), stats: (await fleet.admin("GET", "/stats")).body.mode };
      await r.setStatus("chat", "major_outage");
      r.worker("w1");
      const run = await r.waitForRun("the dry run to end", (x) => x.state === "succeeded" || x.state === "failed", 15_000);
      assert.equal(run.state, "succeeded");
      assert.equal(run.mode, "dry-run");
      for (const step of run.steps) {
        assert.equal(step.state, "succeeded");
        assert.match(step.summary!, /^Would .*Nothing was changed \(dry run\)\.$/, step.summary);
      }
      assert.match(run.steps[0]!.summary!, /Would restart all 2 nodes one by one \(node-0, node-1\)/);
      assert.match(run.steps[1]!.summary!, /Would scale the gateway fleet from 2 to 3 nodes/);
      assert.match(run.steps[2]!.summary!, /Would switch the gateway cache mode from bypass to normal/);
      assert.ok(run.steps[3]!.took_ms! < 1_000, "the wait was not waited");
      assert.deepEqual(await restarts(), before_.restarts, "no node restarted");
      assert.equal((await nodes()).length, 2, "not scaled");
      assert.equal((await fleet.admin("GET", "/stats")).body.mode, before_.stats, "cache mode unchanged");
      assert.equal(existsSync(marker), false, "the command did not run");
      assert.equal(hook.requests.filter((q) => q.path === "/user-hook").length, 0, "the webhook was not called");
      assert.equal(run.incident, undefined, "no incident was opened or written to");
      assert.deepEqual(await r.status.store.recentIncidents(10), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("holds a playbook while a maintenance window covers its component, and runs it once the window ends", async () => {
    const r = await rigWith(`
  - id: held-in-maintenance
    trigger: { component: chat }
    steps: [{ action: wait, for: 100ms }]
`);
    const { maintenance } = await scheduleMaintenance(r.status, {
      name: "Chat upgrade",
      components: ["chat"],
      scheduled_for: new Date(Date.now() - 1_000).toISOString(),
      scheduled_until: new Date(Date.now() + 3_600_000).toISOString(),
      body: "Upgrading chat.",
      author: PEOPLE,
    });
    await advanceMaintenances(r.status);
    await r.setStatus("chat", "major_outage");
    const worker = r.worker("w1");
    const held = await waitFor("the playbook to be held", async () => (await r.store.state("held-in-maintenance")).held, 5_000, 50);
    assert.match(held.reason, /maintenance window in progress for Chat/);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.deepEqual(await r.runs(), [], "no run during the window");
    assert.ok((await worker.evaluate()).some((v) => v.playbook === "held-in-maintenance" && v.outcome === "held"));

    await cancelMaintenance(r.status, { id: maintenance.id, author: PEOPLE });
    const run = await r.waitForRun("the run once the window ended", (x) => x.state === "succeeded", 10_000);
    assert.equal(run.playbook, "held-in-maintenance");
    assert.equal((await r.store.state("held-in-maintenance")).held, undefined);
  });

  it("runs once with two workers evaluating at once, and one run at a time per target", async () => {
    const r = await rigWith(`
  - id: first-on-gateway
    trigger: { component: chat }
    steps: [{ action: wait, for: 1500ms }]
  - id: second-on-gateway
    trigger: { component: chat }
    steps: [{ action: wait, for: 1500ms }]
`);
    const w1 = r.worker("w1");
    const w2 = r.worker("w2");
    await r.setStatus("chat", "major_outage");
    await Promise.all(Array.from({ length: 10 }, () => [w1.evaluate(), w2.evaluate()]).flat());
    const holder = await waitFor("a run to hold the gateway's lock", () => r.store.lockHolder("gateway"), 5_000, 20);
    await waitFor("both runs to end", async () => (await r.runs()).filter((x) => x.state === "succeeded").length === 2, 15_000, 100);
    const runs = await r.runs();
    assert.deepEqual(runs.map((x) => x.playbook).sort(), ["first-on-gateway", "second-on-gateway"], "one run per playbook");
    assert.ok(runs.some((x) => holder.startsWith(`${x.id}:`)), "the lock names the run holding it");
    for (const run of runs) assert.equal(run.executions.length, 1, `${run.playbook} was executed once`);
    const [a, b] = runs.map((x) => x.steps[0]!).sort((x, y) => Date.parse(x.started_at!) - Date.parse(y.started_at!));
    assert.ok(Date.parse(b!.started_at!) >= Date.parse(a!.ended_at!), `the second run waited for the first (${a!.ended_at} → ${b!.started_at})`);
    assert.equal(await r.store.lockHolder("gateway"), undefined, "the lock is free again");
  });

  it("resumes a run after its worker is killed mid-restart: the restart is checked, not repeated", async (t) => {
    const r = await rigWith(`
  - id: unfreeze
    trigger: { component: realtime-gateway }
    steps:
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [gateway-connect], within: 20s }
`);
    const before_ = await restarts();
    assert.equal((await fleet.admin("POST", "/nodes/node-1/faults", { fault: "freeze", duration: "60s" })).status, 200);
    await waitFor("node-1 to be found unresponsive", async () => (await nodes()).find((n) => n.id === "node-1")?.state === "unresponsive", 10_000, 100);
    const child = await spawnPlaybookWorker(r, redis.url, "doomed");
    try {
      await r.setStatus("realtime-gateway", "major_outage");
      // A frozen node is killed at once (no drain it could not answer); its successor then starts: either is the restart under way.
      await waitFor("the restart to be under way", async () => ["draining", "starting"].includes((await nodes()).find((n) => n.id === "node-1")?.state ?? ""), 10_000, 10);
      child.kill("SIGKILL");
      const killedAt = Date.now();
      const run = (await r.runs())[0]!;
      assert.equal(run.steps[0]!.state, "started", "killed while the restart ran");

      r.worker("survivor");
      const done = await r.waitForRun("the run to be resumed and finish", (x) => x.id === run.id && (x.state === "succeeded" || x.state === "failed"), 40_000);
      assert.equal(done.state, "succeeded", done.outcome);
      assert.deepEqual(done.executions.map((e) => e.worker), ["doomed", "survivor"]);
      assert.equal(done.executions[1]!.from, "steps[0]");
      assert.equal(done.steps[0]!.resumed, "checked");
      assert.equal(done.steps[0]!.attempts, 1, "the restart was started once");
      assert.match(done.steps[0]!.summary!, /checked instead of repeated/);
      assert.equal((await restarts())["node-1"], before_["node-1"]! + 1, "node-1 restarted once");
      assert.equal((await restarts())["node-0"], before_["node-0"], "node-0 untouched");
      const incident = (await r.status.store.incident(done.incident!))!;
      assert.equal(incident.updates.filter((u) => u.body.includes("step 1 of 2")).length, 1, "one timeline entry for the restart");
      assert.ok(incident.updates.some((u) => /step 1 of 2: restart the failing gateway nodes \(checked after an interruption\)/.test(u.body)));
      t.diagnostic(`resumed and finished ${((Date.parse(done.ended_at!) - killedAt) / 1000).toFixed(1)} s after the kill`);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("continues a run from the step it reached when its worker stops in the middle", async () => {
    const r = await rigWith(`
  - id: restart-then-wait
    trigger: { component: chat }
    steps:
      - { action: restart-gateway, target: node, node: node-0 }
      - { action: wait, for: 4s }
`);
    const before_ = await restarts();
    await r.setStatus("chat", "major_outage");
    const first = r.worker("first");
    const waiting = await r.waitForRun("the wait to start", (x) => x.steps[1]?.state === "started", 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await first.close();
    assert.equal((await r.store.run(waiting.id))!.state, "running", "interrupted, not ended");
    r.worker("second");
    const done = await r.waitForRun("the run to finish", (x) => x.id === waiting.id && x.state === "succeeded", 20_000);
    assert.deepEqual(done.executions.map((e) => [e.worker, e.from]), [["first", "steps[0]"], ["second", "steps[1]"]]);
    assert.equal(done.steps[0]!.attempts, 1, "the restart ran once");
    assert.equal((await restarts())["node-0"], before_["node-0"]! + 1, "node-0 restarted once");
    assert.equal(done.steps[1]!.resumed, "repeated");
    const waited = Date.parse(done.steps[1]!.ended_at!) - Date.parse(done.steps[1]!.started_at!);
    assert.ok(waited >= 4_000 && waited < 6_000, `the wait took ${waited} ms in all, across both workers`);
  });
});
