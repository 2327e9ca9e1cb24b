import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { PlaybookRun } from "../../src/playbooks/index.ts";
import { startConsolePlaybooks, type ConsolePlaybookStack } from "../helpers/console-playbooks.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * A dry run asked for through the admin API (POST /admin/api/playbooks/ID/dry-run,
 * scope `playbooks`, audited), and what holds a playbook back right now
 * (`holding` in GET /admin/api/playbooks). Real redis-server, gateway fleet,
 * agent, notify worker and playbook worker; the web app over real HTTP.
 */

const ADMIN_TOKEN = "playbook-dry-run-admin-token-0123456789";
const COOLDOWN = "1h";

interface Holding {
  guard: string;
  reason: string;
  until?: string;
  run?: string;
}

describe("playbook dry runs and guards holding now (real redis-server, gateway fleet, workers, admin API over HTTP)", { timeout: 120_000 }, () => {
  let stack: ConsolePlaybookStack;
  let bob: string;
  let reader: string;

  const playbook = async (id: string): Promise<{ enabled: boolean; holding: Holding[]; state: Record<string, unknown> }> => {
    const listed = await stack.api("GET", "/playbooks");
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    return listed.body.playbooks.find((p: { id: string }) => p.id === id);
  };

  before(async () => {
    stack = await startConsolePlaybooks({
      adminToken: ADMIN_TOKEN,
      playbooks: `
  - id: restart-node
    name: Restart node-0
    trigger: { component: chat, status: major_outage }
    steps:
      - { action: restart-gateway, target: node, node: node-0 }
      - { action: verify, probes: [gateway-connect], within: 10s }
    guards: { cooldown: ${COOLDOWN}, max_runs: 1, per: 1h }
    on_failure: { escalate: [oncall] }
`,
    });
    bob = await stack.token("bob", ["playbooks"]);
    reader = await stack.token("reader", ["read"]);
  });

  after(async () => {
    await stack?.stop();
  });

  it("says which guard holds a playbook back now: switched off, the target's lock by run (never its token)", async () => {
    assert.deepEqual((await playbook("restart-node")).holding, [], "nothing holds a fresh playbook back");
    assert.equal((await stack.api("POST", "/playbooks/restart-node/disable", undefined, bob)).status, 200);
    assert.deepEqual((await playbook("restart-node")).holding.map((h) => [h.guard, h.reason]), [["disabled", "switched off through the admin API or the console"]]);
    assert.equal((await stack.api("POST", "/playbooks/restart-node/enable", undefined, bob)).status, 200);

    const store = stack.rig.store;
    assert.ok(await store.acquireLock("gateway", "some-run-id:lock-holder-secret", 10_000));
    try {
      const listed = await stack.api("GET", "/playbooks");
      const holding = listed.body.playbooks[0].holding as Holding[];
      assert.deepEqual(holding.map((h) => [h.guard, h.run]), [["lock", "some-run-id"]]);
      assert.match(holding[0]!.reason, /the gateway target's lock is held by run some-run-id: a run waits until it is free/);
      assert.doesNotMatch(JSON.stringify(listed.body), /lock-holder-secret/, "the lock's token is its holder's own");
    } finally {
      await store.releaseLock("gateway", "some-run-id:lock-holder-secret");
    }
  });

  it("a dry run goes through every step without changing anything, writes no incident, pages nobody, and holds no real run back", async () => {
    const refused = await stack.api("POST", "/playbooks/restart-node/dry-run", undefined, reader);
    assert.equal(refused.status, 403);
    assert.match(refused.body.message, /lacks the "playbooks" scope that POST \/admin\/api\/playbooks\/restart-node\/dry-run needs/);
    assert.equal((await stack.api("POST", "/playbooks/nope/dry-run", undefined, bob)).status, 404);

    // No worker yet: the dry run waits in the queue, and a second one is refused meanwhile.
    const asked = await stack.api("POST", "/playbooks/restart-node/dry-run", undefined, bob);
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const queued = asked.body.run as PlaybookRun;
    assert.equal(queued.state, "queued");
    assert.equal(queued.mode, "dry-run");
    assert.deepEqual({ by: queued.requested?.by, via: queued.requested?.via }, { by: "bob", via: "api" });
    assert.equal(queued.trigger.description, "A dry run asked for by bob");
    const again = await stack.api("POST", "/playbooks/restart-node/dry-run", undefined, bob);
    assert.equal(again.status, 409);
    assert.match(again.body.message, new RegExp(`a dry run of restart-node is under way already \\(run ${queued.id}, queued\\)`));
    assert.deepEqual((await playbook("restart-node")).holding, [], "a queued dry run does not make the playbook busy");

    const restartsBefore = await stack.restarts();
    const worker = stack.rig.worker("w1");
    const done = await stack.rig.waitForRun("the dry run to end", (r) => r.id === queued.id && r.state === "succeeded", 30_000);
    assert.deepEqual(done.steps.map((s) => s.state), ["succeeded", "succeeded"]);
    assert.match(done.steps[0]!.summary!, /^Would restart node-0 .*Nothing was changed \(dry run\)\.$/);
    assert.match(done.steps[1]!.summary!, /^Would verify Gateway connect within 10s\. Nothing was changed \(dry run\)\.$/);
    assert.deepEqual(await stack.restarts(), restartsBefore, "no node restarted");
    assert.equal(done.incident, undefined, "no incident");
    assert.deepEqual(await stack.rig.status.store.recentIncidents(10), [], "no incident opened");
    assert.equal(stack.hook.requests.filter((r) => JSON.stringify(r.json).includes(queued.id)).length, 0, "nobody was told");
    const state = await stack.rig.store.state("restart-node");
    assert.deepEqual([state.active, state.last_ended_at, state.refused], [undefined, undefined, undefined], "the guards' state is untouched");
    assert.deepEqual(await stack.rig.store.recentStarts("restart-node", 3_600_000), [], "not counted in max runs");

    // The real trigger fires right after: the dry run's end started no cooldown, so the run starts at once.
    await stack.rig.setStatus("chat", "major_outage");
    const real = await stack.rig.waitForRun("the real run", (r) => r.playbook === "restart-node" && !r.requested, 15_000);
    assert.equal(real.mode, "auto");
    const ended = await stack.rig.waitForRun("the real run to end", (r) => r.id === real.id && r.state === "succeeded", 60_000);
    assert.equal((await stack.restarts())["node-0"], restartsBefore["node-0"]! + 1, "the real run restarted node-0");

    // Now its guards do hold the next one back, until when they say.
    await stack.rig.setStatus("chat", "operational");
    const holding = (await playbook("restart-node")).holding;
    assert.deepEqual(holding.map((h) => h.guard), ["cooldown", "max_runs"]);
    assert.equal(holding[0]!.until, new Date(Date.parse(ended.ended_at!) + 3_600_000).toISOString(), "cooldown until an hour after the run ended");
    assert.equal(holding[0]!.reason, "its cooldown of 1h after its last run");
    assert.equal(holding[1]!.reason, "it ran 1 time within 1h (at most 1)");
    await worker.close();

    const audit = (await stack.api("GET", "/audit?limit=50")).body.entries as { actor: string; method: string; path: string; status: number }[];
    const dryRuns = audit.filter((e) => e.path === "/admin/api/playbooks/restart-node/dry-run").map((e) => `${e.actor} ${e.status}`);
    assert.deepEqual(dryRuns.sort(), ["bob 202", "bob 409"], "both asked, credited to bob (the refused read token never got that far)");
  });
});
