import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import request from "supertest";
import { bullPrefix, QUEUE } from "../../src/pipeline/index.ts";
import { openIncident, setComponentStatus } from "../../src/status/index.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

const TOKEN = "metrics-bootstrap-token-0123456789";

/** The value of one series in Prometheus text. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

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
    const now = new Date();
    await rig.status.store.recordResult({ id: "r1", probe: "chat-echo", kind: "websocket", location: "local", status: "failed", latency_ms: 1_234, phases: {}, error: "refused", started_at: new Date(now.getTime() - 5_000).toISOString(), finished_at: new Date(now.getTime() - 3_800).toISOString() });
    const queue = new Queue(QUEUE.evaluate, { connection: rig.connection, prefix: bullPrefix(rig.config.redis.prefix) });
    await queue.add("r", { x: 1 });
    await queue.add("r", { x: 2 });
    await queue.close();

    const res = await request(rig.app).get("/metrics").set("authorization", `Bearer ${TOKEN}`).expect(200).expect("content-type", /text\/plain/);
    const text = res.text;
    assert.equal(value(text, 'pulseboard_component_status{component="chat"}'), 2);
    assert.equal(value(text, 'pulseboard_component_status{component="cache"}'), 0);
    assert.equal(value(text, 'pulseboard_incidents_open{impact="major"}'), 1);
    assert.equal(value(text, 'pulseboard_probe_up{probe="chat-echo",location="local"}'), 0);
    assert.equal(value(text, 'pulseboard_probe_latency_seconds{probe="chat-echo",location="local"}'), 1.234);
    assert.ok(value(text, 'pulseboard_probe_result_age_seconds{probe="chat-echo",location="local"}')! >= 3);
    assert.equal(value(text, 'pulseboard_queue_jobs{queue="evaluate",state="waiting"}'), 2);
    assert.equal(value(text, 'pulseboard_queue_jobs{queue="probe-local",state="waiting"}'), 0);
    assert.ok(value(text, 'pulseboard_queue_oldest_waiting_seconds{queue="evaluate"}')! >= 0);
    assert.equal(value(text, "pulseboard_notifications_dead_letters"), 0);
    assert.match(text, /^# HELP pulseboard_web_process_resident_memory_bytes/m, "the web process's own runtime metrics");
    assert.ok(!text.includes(TOKEN));
  });
});
