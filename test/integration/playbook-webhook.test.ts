import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { openIncident, type Author, type Incident } from "../../src/status/index.ts";
import { startTestFleet, type TestFleet } from "../helpers/fleet.ts";
import { startPlaybookRig, type PlaybookRig } from "../helpers/playbooks.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";

/**
 * The playbook `webhook` step against a real HTTP receiver standing in for
 * the user's own endpoint: the playbook worker, agent and notify worker of
 * the playbook rig on a real redis-server and a one-node gateway fleet.
 */

const PULSEBOARD: Author = { kind: "automatic", name: "Pulseboard" };
const HOOK_TOKEN = "user-hook-bearer-Zx81";
const HOOK_KEY = "user-hook-query-key-Qw27";

describe("playbook step webhook (real redis-server, gateway fleet, playbook worker, HTTP receiver)", { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let fleet: TestFleet;
  /** The on-call channel's receiver (the rig's playbooks report there). */
  let oncall: HttpReceiver;
  /** The user's own endpoint the step calls. */
  let endpoint: HttpReceiver;
  let rig: PlaybookRig | undefined;

  /** An automatic incident on Chat, with Chat down: what the step's playbook triggers on. */
  const chatDown = async (r: PlaybookRig): Promise<Incident> => {
    const { incident } = await openIncident(r.status, { name: "Major outage of Chat", body: "Chat: major outage.", components: { chat: "major_outage" }, automatic: true, author: PULSEBOARD });
    await r.setStatus("chat", "major_outage");
    return incident;
  };
  const callsTo = (path: string) => endpoint.requests.filter((q) => q.path.startsWith(path));

  before(async () => {
    redis = await startRedis();
    [oncall, endpoint] = await Promise.all([HttpReceiver.start({ status: 204, body: "" }), HttpReceiver.start({ status: 200, body: "accepted" })]);
    fleet = await startTestFleet({ nodes: 1 });
  });
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });
  after(async () => {
    await fleet?.stop();
    await Promise.all([oncall?.stop(), endpoint?.stop()]);
    await redis?.stop();
  });

  it("POSTs the run as JSON with its idempotency key and the configured headers, and passes on a 2xx", async () => {
    rig = await startPlaybookRig({ redis, fleet, hook: oncall, playbooks: `
  - id: call-ops
    trigger: { component: chat }
    steps:
      - { action: webhook, url: "${endpoint.url(`/recover?key=${HOOK_KEY}`)}", headers: { authorization: "Bearer ${HOOK_TOKEN}" } }
` });
    const incident = await chatDown(rig);
    rig.worker("w1");
    const run = await rig.waitForRun("the run to end", (x) => x.state === "succeeded" || x.state === "failed", 15_000);
    assert.equal(run.state, "succeeded", run.outcome);
    const calls = callsTo("/recover");
    assert.equal(calls.length, 1, "called once");
    const call = calls[0]!;
    const key = `${run.id}.steps.0`;
    assert.equal(call.method, "POST");
    assert.equal(call.path, `/recover?key=${HOOK_KEY}`);
    assert.equal(call.headers["content-type"], "application/json");
    assert.equal(call.headers["idempotency-key"], key, "the step's key, the same on a resumed call");
    assert.equal(call.headers.authorization, `Bearer ${HOOK_TOKEN}`);
    assert.equal(call.headers["user-agent"], "Pulseboard-Playbooks");
    assert.deepEqual(call.json, {
      type: "playbook.step",
      id: key,
      playbook: "call-ops",
      run: run.id,
      kind: run.kind,
      trigger: run.trigger,
      incident: { id: incident.id, name: "Major outage of Chat", status: "investigating" },
    });
    const step = run.steps[0]!;
    assert.equal(step.state, "succeeded");
    assert.match(step.summary!, /^Called POST http:\/\/127\.0\.0\.1:\d+\/…: 200 in \d+ ms\.$/, step.summary);
    // The stored settings keep them (a resumed step needs them); what people read never does.
    assert.doesNotMatch(JSON.stringify([step.label, step.summary, step.details]), new RegExp(`${HOOK_KEY}|${HOOK_TOKEN}`), "the URL's key and the header's token are in no label, summary or details");
  });

  it("fails the step, and the run, when the endpoint answers 503, with the status and the start of its answer in the summary", async () => {
    endpoint.answer({ status: 503, body: "deploy freeze: try later" });
    rig = await startPlaybookRig({ redis, fleet, hook: oncall, playbooks: `
  - id: call-ops-down
    trigger: { component: chat }
    steps:
      - { action: webhook, method: PUT, url: "${endpoint.url(`/recover-down?key=${HOOK_KEY}`)}" }
` });
    const incident = await chatDown(rig);
    rig.worker("w1");
    const run = await rig.waitForRun("the run to end", (x) => x.state === "succeeded" || x.state === "failed", 15_000);
    assert.equal(run.state, "failed", run.outcome);
    assert.equal(callsTo("/recover-down").length, 1);
    assert.equal(callsTo("/recover-down")[0]!.method, "PUT");
    const step = run.steps[0]!;
    assert.equal(step.state, "failed");
    assert.match(step.summary!, /^Called PUT http:\/\/127\.0\.0\.1:\d+\/…: it answered 503 \(deploy freeze: try later\)\.$/, step.summary);
    const timeline = (await rig.status.store.incident(incident.id))!.updates.map((u) => u.detail ?? u.body).join("\n");
    assert.match(timeline, /it answered 503 \(deploy freeze: try later\)/, "on-call reads why in the incident's timeline");
    assert.doesNotMatch(timeline, new RegExp(HOOK_KEY), "the URL's key never reaches the timeline");
  });
});
