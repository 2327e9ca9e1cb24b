import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import request from "supertest";
import { bullPrefix, QUEUE, RoleMetrics } from "../../src/pipeline/index.ts";
import { openIncident, setComponentStatus } from "../../src/status/index.ts";
import { findExecutable } from "../../src/core/index.ts";
import { metricValue } from "../helpers/prometheus.ts";
import { testLog } from "../helpers/config.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

const TOKEN = "metrics-bootstrap-token-0123456789";

describe("/metrics: the service in the Prometheus text format (real redis-server, real HTTP)", () => {
  let rig: WebRig;

  before(async () => {
    rig = await startWebRig(`
page: { name: Metrics, url: "https://status.acme.test" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: cache, name: Cache }]
probes:
  - { id: chat-echo, kind: websocket, interval: 10s, components: [chat], with: { url: "ws://127.0.0.1:9/ws", channel: probe.chat } }
`, { tokens: [TOKEN], metrics: true });
  });
  after(async () => rig?.stop());

  it("needs an admin token (any scope reads it)", async () => {
    await request(rig.app).get("/metrics").expect(401);
  });

  it("says what the control plane holds: component status, open incidents, last probe results, queue depths and ages, dead letters", async () => {
    await setComponentStatus(rig.status, { id: "chat", status: "partial_outage", reason: "echo failed" });
    await openIncident(rig.status, { name: "Chat delays", body: "Looking.", components: { chat: "partial_outage" }, automatic: false, author: { kind: "person", name: "t" } });
    // A draft awaiting review (incidents.publish: review): not among the open (public) incidents, counted on its own.
    await openIncident(rig.status, { name: "Outage of Cache", body: "Investigating.", components: { cache: "major_outage" }, automatic: true, author: { kind: "automatic", name: "Pulseboard" }, draft: { publish_at: new Date(Date.now() + 600_000).toISOString() } });
    const now = new Date();
    await rig.status.store.recordResult({ id: "r1", probe: "chat-echo", kind: "websocket", location: "local", status: "failed", latency_ms: 1_234, phases: {}, error: "refused", started_at: new Date(now.getTime() - 5_000).toISOString(), finished_at: new Date(now.getTime() - 3_800).toISOString() });
    const queue = new Queue(QUEUE.evaluate, { connection: rig.connection, prefix: bullPrefix(rig.config.redis.prefix) });
    await queue.add("r", { x: 1 });
    await queue.add("r", { x: 2 });
    await queue.close();

    const res = await request(rig.app).get("/metrics").set("authorization", `Bearer ${TOKEN}`).expect(200).expect("content-type", /text\/plain/);
    const text = res.text;
    assert.equal(metricValue(text, "pulseboard_component_status", { component: "chat" }), 2);
    assert.equal(metricValue(text, "pulseboard_component_status", { component: "cache" }), 0);
    assert.equal(metricValue(text, "pulseboard_incidents_open", { impact: "major" }), 1);
    assert.equal(metricValue(text, "pulseboard_incidents_open", { impact: "critical" }), 0, "the draft is not public");
    assert.equal(metricValue(text, "pulseboard_incident_drafts_awaiting_review"), 1);
    assert.equal(metricValue(text, "pulseboard_probe_up", { probe: "chat-echo", location: "local" }), 0);
    assert.equal(metricValue(text, "pulseboard_probe_latency_seconds", { probe: "chat-echo", location: "local" }), 1.234);
    assert.ok(metricValue(text, "pulseboard_probe_result_age_seconds", { probe: "chat-echo", location: "local" })! >= 3);
    assert.equal(metricValue(text, "pulseboard_queue_jobs", { queue: "evaluate", state: "waiting" }), 2);
    assert.equal(metricValue(text, "pulseboard_queue_jobs", { queue: "probe-local", state: "waiting" }), 0);
    assert.ok(metricValue(text, "pulseboard_queue_oldest_waiting_seconds", { queue: "evaluate" })! >= 0);
    assert.equal(metricValue(text, "pulseboard_notifications_dead_letters"), 0);
    assert.match(text, /^# HELP pulseboard_web_process_resident_memory_bytes/m, "the web process's own runtime metrics");
    assert.ok(!text.includes(TOKEN));
  });

  it("merges what the live worker, agent and scheduler processes publish, each series labelled by instance; a dead one drops out", async () => {
    const scrape = async () => (await request(rig.app).get("/metrics").set("authorization", `Bearer ${TOKEN}`).expect(200)).text;
    const worker = new RoleMetrics("worker", { instance: "host-a:101" });
    const agents = [new RoleMetrics("agent", { instance: "host-b:202" }), new RoleMetrics("agent", { instance: "host-c:303" })];
    worker.counter("pulseboard_notification_attempts_total", "attempts", ["channel", "outcome"]).inc({ channel: "slack", outcome: "retry" }, 3);
    agents.forEach((agent, i) => agent.counter("pulseboard_probe_runs_total", "runs", ["probe", "location", "status"]).inc({ probe: "chat-echo", location: "local", status: "ok" }, 10 * (i + 1)));
    for (const m of [worker, ...agents]) {
      m.publish(rig.connection, rig.config.redis.prefix, testLog());
      await m.publishOnce();
    }
    try {
      let text = await scrape();
      assert.equal(metricValue(text, "pulseboard_instances", { role: "worker" }), 1);
      assert.equal(metricValue(text, "pulseboard_instances", { role: "agent" }), 2);
      assert.equal(metricValue(text, "pulseboard_instances", { role: "scheduler" }), 0);
      assert.equal(metricValue(text, "pulseboard_notification_attempts_total", { channel: "slack", outcome: "retry", instance: "host-a:101" }), 3);
      assert.equal(metricValue(text, "pulseboard_probe_runs_total", { instance: "host-b:202" }), 10, "each agent's counter stays its own");
      assert.equal(metricValue(text, "pulseboard_probe_runs_total", { instance: "host-c:303" }), 20);
      assert.ok(metricValue(text, "pulseboard_worker_process_resident_memory_bytes", { instance: "host-a:101" })! > 0, "the worker's runtime, under its role's prefix");
      assert.ok(metricValue(text, "pulseboard_agent_nodejs_heap_size_used_bytes", { instance: "host-c:303" })! > 0);
      assert.equal(metricValue(text, 'pulseboard_component_status', { component: "chat" }), 2, "the control plane's own series are still there");

      // host-c dies: it stops publishing and its snapshot goes stale.
      await agents[1]!.close();
      await rig.connection.set(`${rig.config.redis.prefix}:metrics:snapshot:agent:host-b:202`, "{ cut short");
      text = await scrape();
      assert.equal(metricValue(text, "pulseboard_instances", { role: "agent" }), 0, "a stopped agent withdrew; an unreadable snapshot is left out");
      assert.equal(metricValue(text, "pulseboard_probe_runs_total"), undefined);
      await agents[0]!.publishOnce();
      await rig.connection.zadd(`${rig.config.redis.prefix}:metrics:instances`, Date.now() - 1, "worker:host-a:101");
      text = await scrape();
      assert.equal(metricValue(text, "pulseboard_instances", { role: "agent" }), 1, "the next snapshot brings it back");
      assert.equal(metricValue(text, "pulseboard_instances", { role: "worker" }), 0, "a process silent past its deadline is gone");
      assert.equal(metricValue(text, "pulseboard_notification_attempts_total"), undefined);
    } finally {
      await Promise.all([worker, ...agents].map((m) => m.close()));
    }
  });

  it("passes Prometheus's own lint (promtool check metrics), the web's runtime and every role's merged in", async () => {
    const promtool = findExecutable("promtool", `${process.env.PATH ?? ""}:/usr/sbin:/usr/bin`);
    assert.ok(promtool, "promtool is not installed: run `node scripts/system-deps.mjs promtool` (Debian: apt-get install prometheus)");
    const worker = new RoleMetrics("worker", { instance: "host-lint:1" });
    worker.counter("pulseboard_notification_attempts_total", "attempts", ["channel", "outcome"]).inc({ channel: "slack", outcome: "delivered" });
    worker.publish(rig.connection, rig.config.redis.prefix, testLog());
    await worker.publishOnce();
    try {
      const text = (await request(rig.app).get("/metrics").set("authorization", `Bearer ${TOKEN}`).expect(200)).text;
      assert.ok(metricValue(text, "pulseboard_worker_process_resident_memory_bytes", { instance: "host-lint:1" })! > 0, "the worker's runtime is in the scrape");
      const lint = spawnSync(promtool, ["check", "metrics"], { input: text, encoding: "utf8" });
      assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
    } finally {
      await worker.close();
    }
  });
});
