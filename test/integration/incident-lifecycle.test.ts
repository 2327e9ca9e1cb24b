import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { newId } from "../../src/core/index.ts";
import { bullPrefix, QUEUE, startEvaluator, startIncidentWorker, startMaintenanceClock, type EvaluateJob } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { appendUpdate, readSummary, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The evaluation and incident lifecycle on real queues: results go in the
 * evaluate queue the way agents put them there.
 */
/** The same outcome at every location of the chat probe. */
const all = (o: ProbeStatus) => ({ eu: o, us: o, ap: o });

describe("evaluation and the incident lifecycle (real redis-server, BullMQ)", () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;

  before(async () => {
    redis = await startRedis();
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  /** A pipeline (evaluator + incident worker) over its own key prefix. */
  async function pipeline(extra = "", flapChanges = 4) {
    const config: Config = await configFrom(`
redis: { prefix: ${uniquePrefix("life")} }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: ${flapChanges} }
locations: [{ id: eu }, { id: us }, { id: ap }]
components: [{ id: chat, name: Chat }, { id: cache, name: Cache }]
probes:
  - { id: chat-echo, kind: websocket, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, components: [chat] }
  - { id: cache-ping, kind: redis, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, locations: [eu], components: [cache] }
${extra}`, { REDIS_URL: redis.url });
    const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    const evaluator = startEvaluator({ config, status, connection: blocking, log: testLog() });
    const incidents = startIncidentWorker({ config, status, connection: blocking, log: testLog() });
    const queue = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    let clock = Date.now();
    const results = async (probe: string, outcomes: Record<string, ProbeStatus>) => {
      clock += 1_000;
      for (const [location, outcome] of Object.entries(outcomes)) {
        const at = new Date(clock).toISOString();
        const result: ProbeResult = { id: newId(16), probe, kind: "websocket", location, status: outcome, latency_ms: 12, phases: {}, started_at: at, finished_at: at, error: outcome === "failed" ? "connect: connection refused" : undefined };
        await queue.add("result", { result }, { jobId: result.id });
      }
    };
    const settled = async () => {
      await waitFor("the queues to drain", async () => {
        const counts = await Promise.all(
          [QUEUE.evaluate, QUEUE.incidents].map(async (name) => {
            const q = new Queue(name, { connection: commands, prefix: bullPrefix(config.redis.prefix) });
            const c = await q.getJobCounts("wait", "active", "prioritized");
            await q.close();
            return (c.wait ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0);
          }),
        );
        return counts.every((n) => n === 0);
      }, 10_000, 50);
      await new Promise((resolve) => setTimeout(resolve, 100));
    };
    const close = async () => {
      await evaluator.close();
      await incidents.close();
      await queue.close();
    };
    const recent = () => status.store.recentIncidents(10);
    /** Feeds one round of results and waits until the pipeline has taken them in. */
    const round = async (probe: string, outcomes: Record<string, ProbeStatus>) => {
      await results(probe, outcomes);
      await settled();
    };
    const resolved = (what: string) =>
      waitFor(what, async () => {
        const [current] = await recent();
        return current?.status === "resolved" ? current : undefined;
      }, 5_000);
    return { config, status, results, settled, round, resolved, close, incidents: recent };
  }

  it("opens nothing when one location of three fails; opens one incident when a majority does", async () => {
    const p = await pipeline();
    try {
      await p.results("chat-echo", { eu: "failed", us: "ok", ap: "ok" });
      await p.round("chat-echo", { eu: "failed", us: "ok", ap: "ok" });
      assert.deepEqual(await p.incidents(), [], "one sick location pages no one");
      await p.round("chat-echo", { eu: "failed", us: "failed", ap: "ok" });
      const incidents = await p.incidents();
      assert.equal(incidents.length, 1);
      assert.match(incidents[0]!.updates[0]!.detail!, /Chat: major outage\. .*failed from eu, us: connect: connection refused \(eu: 12 ms, us: 12 ms\)\. We are investigating\./, "on-call reads what failed, where and how");
      assert.equal(incidents[0]!.updates[0]!.body, "New connections to Chat are failing. We are investigating.", "the public reads what it means, in plain words");
    } finally {
      await p.close();
    }
  });

  it("flags a location whose every probe fails at once", async () => {
    const p = await pipeline();
    try {
      await p.results("chat-echo", { eu: "failed", us: "ok", ap: "ok" });
      await p.round("cache-ping", { eu: "failed" });
      const flags = await p.status.store.locationFlags();
      assert.deepEqual([...flags.keys()], ["eu"]);
      assert.match(flags.get("eu")!.reason, /every probe at eu \(2\) is failing at once/);
      await p.round("cache-ping", { eu: "ok" });
      assert.equal((await p.status.store.locationFlags()).size, 0);
    } finally {
      await p.close();
    }
  });

  it("a flapping probe opens one incident, held at the worse state, not many", async () => {
    const p = await pipeline();
    try {
      for (let i = 0; i < 8; i++) {
        const outcome = i % 2 === 0 ? "failed" : "ok";
        await p.round("chat-echo", { eu: outcome, us: outcome, ap: outcome });
      }
      const incidents = await p.incidents();
      assert.equal(incidents.length, 1);
      const [incident] = incidents;
      assert.notEqual(incident!.status, "resolved", "held open while flapping");
      const state = (await p.status.store.components()).get("chat")!;
      assert.equal(state.status, "major_outage");
      assert.match(state.reason!, /^Flapping: its status changed/);
    } finally {
      await p.close();
    }
  });

  it("recovery moves the incident to monitoring; a relapse reopens the same one; quiet resolves it", async () => {
    const p = await pipeline("", 10);
    try {
      await p.round("chat-echo", all("failed"));
      await p.round("chat-echo", all("ok"));
      let [incident] = await p.incidents();
      assert.equal(incident!.status, "monitoring");
      await p.round("chat-echo", all("failed"));
      const reopened = await p.incidents();
      assert.equal(reopened.length, 1, "the relapse reopened the same incident");
      assert.equal(reopened[0]!.status, "investigating");
      assert.match(reopened[0]!.updates.at(-1)!.detail!, /^Relapse: /);
      await p.round("chat-echo", all("ok"));
      incident = await p.resolved("resolution after the quiet period");
      assert.deepEqual(incident.updates.map((u) => u.status), ["investigating", "monitoring", "investigating", "monitoring", "resolved"]);
    } finally {
      await p.close();
    }
  });

  it("the public timeline has one entry per status change in plain words; on-call keeps every change with its details", async () => {
    const p = await pipeline("", 20);
    try {
      await p.round("chat-echo", all("failed"));
      await p.round("cache-ping", { eu: "failed" });
      await p.round("chat-echo", all("ok"));
      let [stored] = await p.incidents();
      assert.equal(stored!.status, "investigating", "the cache is still down");
      await p.round("cache-ping", { eu: "ok" });
      stored = await p.resolved("resolution after the quiet period");
      // On-call: opened, the cache joined, chat recovered, the cache recovered (monitoring), resolved.
      assert.deepEqual(stored.updates.map((u) => [u.status, u.internal ?? false]), [
        ["investigating", false],
        ["investigating", false],
        ["investigating", true],
        ["monitoring", false],
        ["resolved", false],
      ]);
      assert.match(stored.updates[2]!.body, /Chat is operational again\. Still affected: Cache\./);
      const [shown] = (await readSummary(p.status)).recent;
      assert.deepEqual(shown!.updates.map((u) => u.status), ["investigating", "investigating", "monitoring", "resolved"], "the public reads no on-call-only entry");
      assert.deepEqual(shown!.updates.map((u) => u.body), [
        "New connections to Chat are failing. We are investigating.",
        "New connections to Chat are failing. Cache is not responding. We are investigating.",
        "Chat and Cache are working normally again. We are watching closely to make sure it stays that way.",
        "This incident has been resolved. Chat and Cache are working normally.",
      ]);
      assert.ok(shown!.updates.every((u) => u.detail === undefined), "no technical detail on the public view");
      assert.deepEqual(
        shown!.updates[2]!.affected_components.map((a) => [a.code, a.old_status, a.new_status]),
        [["chat", "major_outage", "operational"], ["cache", "major_outage", "operational"]],
        "the on-call-only entry's change (chat recovered) shows on the next public one",
      );
    } finally {
      await p.close();
    }
  });

  it("monitoring set before the components recovered (a playbook's verify passed) resolves only once they have, and a worse status then is no relapse", async () => {
    const p = await pipeline("", 20);
    try {
      await p.round("chat-echo", all("failed"));
      let [stored] = await p.incidents();
      await appendUpdate(p.status, { id: stored!.id, status: "monitoring", body: "Chat is working normally again.", detail: "verify passed", author: { kind: "automatic", name: "Pulseboard playbook test" } });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      [stored] = await p.incidents();
      assert.equal(stored!.status, "monitoring", "no quiet check resolves it while chat is still down");
      await p.round("chat-echo", all("degraded"));
      [stored] = await p.incidents();
      assert.equal(stored!.status, "monitoring", "a component already affected changing how bad it is does not reopen it");
      assert.equal(stored!.updates.at(-1)!.internal, true);
      await p.round("chat-echo", all("ok"));
      stored = await p.resolved("resolution a quiet period after chat recovered");
      assert.deepEqual((await readSummary(p.status)).recent[0]!.updates.map((u) => u.status), ["investigating", "monitoring", "resolved"]);
    } finally {
      await p.close();
    }
  });

  it("a maintenance window holds incidents for its components, shows them under maintenance, and ends by itself", async () => {
    const start = new Date(Date.now() - 1_000).toISOString();
    const end = new Date(Date.now() + 2_500).toISOString();
    const p = await pipeline(`maintenance:
  - { id: chat-upgrade, name: Chat upgrade, components: [chat], starts_at: "${start}", ends_at: "${end}", message: "Upgrading chat servers." }`);
    const clock = startMaintenanceClock({ config: () => p.config, status: p.status, connection: commands, log: testLog() });
    try {
      await waitFor("the window to start", async () => (await p.status.store.openMaintenances())[0]?.status === "in_progress", 8_000);
      let summary = await readSummary(p.status);
      assert.equal(summary.components.find((c) => c.config.id === "chat")!.status, "under_maintenance");
      assert.equal(summary.indicator, "maintenance");
      await p.round("chat-echo", { eu: "failed", us: "failed", ap: "failed" });
      assert.deepEqual(await p.incidents(), [], "held during maintenance");
      await waitFor("the window to end by itself", async () => (await p.status.store.openMaintenances()).length === 0, 10_000);
      const incident = await waitFor("an incident once the window ended with chat still down", async () => (await p.incidents())[0], 10_000);
      assert.match(incident.updates[0]!.detail!, /Still unwell after its maintenance window/);
      summary = await readSummary(p.status);
      assert.equal(summary.components.find((c) => c.config.id === "chat")!.status, "major_outage");
      const [done] = await p.status.store.recentMaintenances(1);
      assert.deepEqual(done!.updates.map((u) => u.status), ["scheduled", "in_progress", "completed"]);
    } finally {
      await clock.stop();
      await p.close();
    }
  });

  it("a recurring window (cron, duration, timezone) starts and ends on time every time, and holds automatic incidents while it lasts", async (t) => {
    // Every 10 s (node-cron's seconds field) for 3 s; and a weekly one at 03:00 in Kathmandu (UTC+05:45).
    const p = await pipeline(`maintenance:
  - { id: chat-restarts, name: Chat restarts, components: [chat], cron: "*/10 * * * * *", duration: 3s, message: "Restarting chat servers." }
  - { id: cache-weekly, name: Cache upgrade, components: [cache], cron: "0 3 * * 0", timezone: Asia/Kathmandu, duration: 1h }`);
    const clock = startMaintenanceClock({ config: () => p.config, status: p.status, connection: commands, log: testLog() });
    const windows = async (name: string) => (await p.status.store.openMaintenances()).filter((m) => m.name === name);
    try {
      const weekly = await waitFor("the weekly window on the calendar", async () => (await windows("Cache upgrade"))[0], 8_000);
      const startsAt = new Date(weekly.scheduled_for);
      assert.deepEqual([startsAt.getUTCDay(), startsAt.getUTCHours(), startsAt.getUTCMinutes()], [6, 21, 15], `Sunday 03:00 in Kathmandu is Saturday 21:15 UTC: ${weekly.scheduled_for}`);
      assert.equal(Date.parse(weekly.scheduled_until) - startsAt.getTime(), 3_600_000);

      const first = await waitFor("a chat window in progress", async () => (await windows("Chat restarts")).find((m) => m.status === "in_progress"), 15_000, 50);
      const late = Date.parse(first.started_at!) - Date.parse(first.scheduled_for);
      t.diagnostic(`in progress ${late} ms after its start`);
      // On time, not at the clock's next 5 s round: a short window would otherwise be half over (or skipped) before it starts.
      assert.ok(late >= 0 && late < 1_500, `started ${late} ms after its time`);
      assert.equal(Date.parse(first.scheduled_until) - Date.parse(first.scheduled_for), 3_000);
      await p.round("chat-echo", all("failed"));
      assert.deepEqual(await p.incidents(), [], "held during the window");

      const done = await waitFor("the window to complete by itself", async () => {
        const stored = await p.status.store.maintenance(first.id);
        return stored?.status === "completed" ? stored : undefined;
      }, 10_000, 50);
      assert.deepEqual(done.updates.map((u) => u.status), ["scheduled", "in_progress", "completed"]);
      assert.ok(Date.parse(done.completed_at!) >= Date.parse(done.scheduled_until), "not before its end");
      const incident = await waitFor("an incident once the window ended with chat still down", async () => (await p.incidents())[0], 10_000);
      assert.match(incident.updates[0]!.detail!, /Still unwell after its maintenance window/);

      const second = await waitFor("the next chat window in progress", async () => (await windows("Chat restarts")).find((m) => m.status === "in_progress" && m.id !== first.id), 15_000, 50);
      assert.equal(Date.parse(second.scheduled_for) - Date.parse(first.scheduled_for), 10_000, "ten seconds after the first");
    } finally {
      await clock.stop();
      await p.close();
    }
  });
});
