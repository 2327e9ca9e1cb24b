import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import request from "supertest";
import type { HeldRun } from "../../src/playbooks/index.ts";
import { openIncident, type Author } from "../../src/status/index.ts";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { playbookWebApp, startPlaybookRig, type PlaybookRig } from "../helpers/playbooks.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN_TOKEN = "playbook-holds-test-admin-token";
const PEOPLE: Author = { kind: "person", name: "test" };
const COOLDOWN_MS = 4_000;

/**
 * Runs a guard held back are recorded where ops and `pulseboard chaos` read
 * them (GET /admin/api/playbooks/holds), not only logged: which playbook,
 * which guard, until when, for which incident. Real redis-server, gateway
 * fleet, agent and playbook worker; the web role's app in this process.
 */
describe("held-back playbook runs (real redis-server, gateway fleet, playbook worker, admin API)", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  let hook: HttpReceiver;
  let rig: PlaybookRig;
  let app: ReturnType<typeof playbookWebApp>["app"];
  let close: () => Promise<unknown>;

  before(async () => {
    redis = await startRedis();
    hook = await HttpReceiver.start({ status: 204, body: "" });
    fleet = await startTestFleet({ nodes: 2 });
    rig = await startPlaybookRig({
      redis,
      fleet,
      hook,
      playbooks: `
  - id: cool-down
    name: Cool down
    trigger: { component: chat, status: partial_outage }
    steps: [{ action: wait, for: 200ms }]
    guards: { cooldown: ${COOLDOWN_MS}ms, max_runs: 10, per: 1h }
`,
    });
    ({ app, close } = playbookWebApp(rig, redis.url, ADMIN_TOKEN));
  });

  after(async () => {
    await close?.();
    await rig?.stop();
    await fleet?.stop();
    await hook?.stop();
    await redis?.stop();
  });

  const holds = async (query = ""): Promise<HeldRun[]> => {
    const res = await request(app).get(`/admin/api/playbooks/holds${query}`).set("authorization", `Bearer ${ADMIN_TOKEN}`);
    assert.equal(res.status, 200, res.text);
    return res.body.holds as HeldRun[];
  };

  it("records a run the cooldown held back once, with its guard, until when and its incident; not the episode its last run answered", async () => {
    const { incident } = await openIncident(rig.status, { name: "Major outage of Chat", body: "Chat: major outage.", components: { chat: "major_outage" }, automatic: true, author: PEOPLE });
    await rig.setStatus("chat", "major_outage");
    rig.worker("w1");
    const first = await rig.waitForRun("the first run", (x) => x.state === "succeeded");
    // The trigger keeps firing from the episode the run answered: refused by the cooldown, but no run held back.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal((await rig.store.state("cool-down")).refused?.guard, "cooldown", "the claim was refused");
    assert.deepEqual(await holds(), [], "the episode its run answered is not a held run");

    // A relapse within the cooldown: a new episode, held back.
    await rig.setStatus("chat", "operational");
    await waitFor("the trigger to be clear", async () => (await rig.store.state("cool-down")).clear_since !== undefined, 5_000, 50);
    const relapsedAt = Date.now();
    await rig.setStatus("chat", "major_outage");
    const [hold] = await waitFor("the hold to be recorded", async () => ((await holds()).length > 0 ? holds() : undefined), 5_000, 50);
    const until = new Date(Date.parse(first.ended_at!) + COOLDOWN_MS).toISOString();
    assert.deepEqual(
      { playbook: hold!.playbook, name: hold!.name, kind: hold!.kind, guard: hold!.guard, until: hold!.until, incident: hold!.incident },
      { playbook: "cool-down", name: "Cool down", kind: "recovery", guard: "cooldown", until, incident: incident.id },
    );
    assert.ok(Date.parse(hold!.at) >= relapsedAt - 50, "held after the relapse");
    assert.match(hold!.reason, new RegExp(`cooldown \\(4s after its last run\\) lasts until ${until}`));
    assert.match(hold!.trigger, /^Chat is in major outage/);

    // Once the cooldown is over the run starts; the hold stays one record, whatever the number of evaluations.
    const second = await rig.waitForRun("the run after the cooldown", (x) => x.id !== first.id && x.state === "succeeded", 15_000);
    assert.ok(Date.parse(second.created_at) >= Date.parse(until), `it started once the cooldown was over: ${second.created_at}`);
    assert.equal((await holds()).length, 1, "one record for the hold, not one per tick");
    assert.equal((await holds(`?since=${encodeURIComponent(new Date(Date.parse(hold!.at) + 1).toISOString())}`)).length, 0, "since filters");
    assert.equal((await holds("?playbook=cool-down")).length, 1);

    const bad = await request(app).get("/admin/api/playbooks/holds?since=yesterday").set("authorization", `Bearer ${ADMIN_TOKEN}`);
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /since: expected an ISO 8601 time/);
  });
});
