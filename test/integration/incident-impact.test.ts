import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import { newId } from "../../src/core/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, QUEUE, startEvaluator, startIncidentWorker, startNotifyWorker, startOutboxDispatcher, type EvaluateJob } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import type { Incident } from "../../src/status/index.ts";
import { testLog } from "../helpers/config.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";
import { child, children, parseXml } from "../helpers/xml.ts";

const ADMIN = "incident-impact-admin-token-0123456789";

/** What an on-call webhook post says of its incident. */
interface HookPost {
  type: string;
  data: { incident: { id: string; impact: string }; update: { id: string; status: string }; urgency: string };
}

/** What a Slack post says: its blocks' texts. */
interface SlackPost {
  blocks: { fields?: { text: string }[] }[];
}

/**
 * An automatic incident keeps the worst impact it reached (as Statuspage
 * does) through monitoring and resolution, on every surface: the store, the
 * public API, the feeds, the history page and the on-call posts; while the
 * page's indicator and the posts' urgency say how things are now.
 */
describe("an incident's impact is the worst it reached (real redis-server, BullMQ, HTTP receivers)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let blocking: Redis;
  let hook: HttpReceiver;
  let slack: HttpReceiver;
  let results: Queue<EvaluateJob>;
  const stops: (() => Promise<void>)[] = [];
  let clock = Date.now();

  /** One result of the gateway probe, put on the evaluate queue the way an agent does. */
  const result = async (outcome: ProbeStatus): Promise<void> => {
    clock += 1_000;
    const at = new Date(clock).toISOString();
    const r: ProbeResult = { id: newId(16), probe: "gateway-connect", kind: "websocket", location: "local", status: outcome, latency_ms: 9, phases: {}, started_at: at, finished_at: at, error: outcome === "failed" ? "connect: connection refused" : undefined };
    await results.add("result", { result: r }, { jobId: r.id });
  };

  const latest = async (): Promise<Incident | undefined> => (await rig.status.store.recentIncidents(1))[0];
  const waitForStatus = (wanted: Incident["status"]): Promise<Incident> =>
    waitFor(`the incident to be ${wanted}`, async () => {
      const incident = await latest();
      return incident?.status === wanted ? incident : undefined;
    }, 10_000, 50);
  const waitForPosts = (count: number): Promise<boolean> =>
    waitFor(`${count} posts at each receiver`, () => hook.requests.length >= count && slack.requests.length >= count, 10_000, 50);

  /** What every public surface says of the incident's impact now, and the page's indicator. */
  async function publicImpacts(id: string) {
    await rig.snapshot.refresh();
    const { app } = rig;
    const incidents = (await request(app).get("/api/v2/incidents.json").expect(200)).body.incidents as { id: string; impact: string }[];
    const summary = (await request(app).get("/api/v2/summary.json").expect(200)).body as { status: { indicator: string }; incidents: { id: string; impact: string }[] };
    const rss = child(parseXml((await request(app).get("/history.rss").expect(200)).text), "channel");
    const item = children(rss, "item").find((i) => child(i, "link").text.endsWith(`/incidents/${id}`))!;
    const atom = parseXml((await request(app).get("/history.atom").expect(200)).text);
    const entry = children(atom, "entry").find((e) => child(e, "id").text.endsWith(`/incidents/${id}`))!;
    const history = (await request(app).get("/history").expect(200)).text;
    const row = new RegExp(`<article class="history-item ([^"]*)">\\s*<h3><a href="/incidents/${id}">`).exec(history);
    const page = (await request(app).get(`/incidents/${id}`).expect(200)).text;
    return {
      incidentsJson: incidents.find((i) => i.id === id)?.impact,
      summaryJson: summary.incidents.find((i) => i.id === id)?.impact ?? "(not listed)",
      indicator: summary.status.indicator,
      rss: `${child(item, "category").attributes.domain}:${child(item, "category").text}`,
      atom: `${child(entry, "category").attributes.term} (${child(entry, "category").attributes.label})`,
      historyRow: row?.[1] ?? "(no row)",
      incidentPage: /<article class="incident-page ([^"]*)">/.exec(page)?.[1] ?? "(no article)",
    };
  }

  const hookPosts = () => hook.requests.map((r) => r.json as HookPost);
  const slackImpacts = () => slack.requests.map((r) => (r.json as SlackPost).blocks.flatMap((b) => b.fields ?? []).map((f) => f.text).find((t) => t.startsWith("*Impact*")));

  before(async () => {
    [hook, slack] = await Promise.all([HttpReceiver.start({ status: 204, body: "" }), HttpReceiver.start({ status: 200, body: "ok" })]);
    rig = await startWebRig(`
redis: { prefix: ${uniquePrefix("impact")} }
page: { name: Impact Status, url: "https://status.impact.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
probes:
  - { id: gateway-connect, kind: websocket, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, components: [realtime-gateway] }
notifications:
  retry_base: 200ms
  retry_max: 1s
  channels:
    - { id: oncall-hook, kind: webhook, url: "${hook.url("/hooks/pulseboard")}" }
    - { id: slack, kind: slack, url: "${slack.url("/services/T0IMPACT/B0IMPACT/impactSlackToken")}" }
`, { tokens: [ADMIN] });
    const { config, status, connection, redis } = rig;
    const log = testLog();
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    results = new Queue<EvaluateJob>(QUEUE.evaluate, { connection, prefix: bullPrefix(config.redis.prefix) });
    const evaluator = startEvaluator({ config, status, connection: blocking, log });
    const incidents = startIncidentWorker({ config, status, connection: blocking, log });
    const outbox = startOutboxDispatcher({ config: () => config, status, connection, log });
    const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
    stops.push(() => evaluator.close(), () => incidents.close(), () => outbox.close(), () => notify.close(), () => results.close());
  });

  after(async () => {
    for (const stop of stops) await stop();
    blocking?.disconnect();
    await rig?.stop();
    await Promise.all([hook?.stop(), slack?.stop()]);
  });

  it("a major outage stays critical through monitoring and resolution everywhere; the indicator and urgency follow what is current", async () => {
    await result("failed");
    const opened = await waitForStatus("investigating");
    assert.equal(opened.name, "Major outage of Realtime gateway");
    assert.equal(opened.impact, "critical");
    const critical = { incidentsJson: "critical", rss: "impact:critical", atom: "critical (Critical impact)", historyRow: "impact-critical", incidentPage: "impact-critical" };
    assert.deepEqual(await publicImpacts(opened.id), { ...critical, summaryJson: "critical", indicator: "critical" }, "while investigating");
    // The opened post is built from the incident as it is when it is sent, so let it go before the recovery.
    await waitForPosts(1);

    await result("ok");
    const monitoring = await waitForStatus("monitoring");
    assert.deepEqual(monitoring.components, { "realtime-gateway": "operational" });
    assert.equal(monitoring.impact, "critical", "monitoring keeps the worst impact in the store");
    assert.deepEqual(await publicImpacts(opened.id), { ...critical, summaryJson: "critical", indicator: "none" }, "while monitoring: the incident critical, the page operational");

    const resolved = await waitForStatus("resolved");
    assert.equal(resolved.impact, "critical", "resolution keeps the worst impact in the store");
    assert.deepEqual(await publicImpacts(opened.id), { ...critical, summaryJson: "(not listed)", indicator: "none" }, "once resolved");

    await waitForPosts(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const posts = hookPosts().filter((p) => p.data.incident.id === opened.id);
    assert.deepEqual(
      posts.map((p) => [p.type, p.data.update.status, p.data.incident.impact, p.data.urgency]),
      [
        ["incident.opened", "investigating", "critical", "high"],
        ["incident.updated", "monitoring", "critical", "low"],
        ["incident.resolved", "resolved", "critical", "low"],
      ],
      "every webhook post carries the worst impact; only the outage itself is urgent",
    );
    assert.deepEqual(slackImpacts(), ["*Impact*\nCritical", "*Impact*\nCritical", "*Impact*\nCritical"]);
  });

  it("a person may lower an automatic incident's impact; staying as bad keeps it lowered, getting worse raises it again", async () => {
    const admin = (path: string, body: object) => request(rig.app).post(`/admin/api${path}`).set("authorization", `Bearer ${ADMIN}`).send(body).expect(200);
    await result("failed");
    const opened = await waitFor("a second automatic incident", async () => {
      const incident = await latest();
      return incident?.status === "investigating" ? incident : undefined;
    }, 10_000, 50);
    assert.equal(opened.impact, "critical");

    const lowered = (await admin(`/incidents/${opened.id}/updates`, { body: "Only new connections fail; connected clients are fine.", impact: "major" })).body.incident as Incident;
    assert.equal(lowered.impact, "major", "a person's explicit impact stands, lower included");
    const still = (await admin(`/incidents/${opened.id}/updates`, { body: "Still looking.", components: { "realtime-gateway": "major_outage" } })).body.incident as Incident;
    assert.equal(still.impact, "major", "an update that leaves the outage as bad keeps the person's impact");

    await result("ok");
    await waitForStatus("monitoring");
    assert.equal((await latest())!.impact, "major", "recovering keeps the person's impact");
    await result("failed");
    const relapse = await waitForStatus("investigating");
    assert.equal(relapse.impact, "critical", "the relapse to a major outage raises it again");
  });
});
