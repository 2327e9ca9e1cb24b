import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, QUEUE, startNotifyWorker, startOutboxDispatcher } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startProbePipeline } from "../helpers/pipeline.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * A flapping component on the whole pipeline: a real HTTP endpoint probed
 * every second answers 200, 500, 200, 500, 200 and then 200 for good; with
 * `flap_changes: 4` the fourth change (a recovery) holds Chat at its outage,
 * and on-call must be told so in words, not only see the status stay red.
 */

interface WebhookBody {
  type: string;
  data: { incident: { id: string }; update: { status: string; body: string } };
}

const FLAPPING = "Chat: major outage. Flapping: its status changed 4 times in the last 1 min; held at major outage until it is stable for 1 min.";

describe("flapping: what on-call is told (real redis-server, BullMQ, probed HTTP endpoint, webhook receiver)", { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let config: Config;
  let status: StatusContext;
  let endpoint: HttpReceiver;
  let oncall: HttpReceiver;
  let incidentQueue: Queue;
  const stops: (() => Promise<void>)[] = [];
  const bodies = () => oncall.requests.map((r) => r.json as WebhookBody);

  before(async () => {
    redis = await startRedis();
    endpoint = await HttpReceiver.start({ status: 200, body: "ok" });
    // The probe's runs, in order: up, down, up, down, up (the fourth change), then up for good.
    for (const code of [200, 500, 200, 500]) endpoint.answer({ status: code, body: code === 200 ? "ok" : "boom" });
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    config = await configFrom(`
redis: { prefix: ${uniquePrefix("flap")} }
page: { name: Flap Status, url: "https://status.flap.example" }
evaluation: { quiet_period: 1m, flap_window: 1m, flap_changes: 4 }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - { id: chat-page, name: Chat page, kind: http, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [chat], with: { url: "${endpoint.url("/health")}" } }
notifications:
  retry_base: 100ms
  retry_max: 500ms
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/hooks/oncall")}" }
`, { REDIS_URL: redis.url, CACHE_REDIS_URL: redis.url });
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    const log = testLog();
    const pipeline = await startProbePipeline({ config, status, commands, blocking, log });
    const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
    const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
    incidentQueue = new Queue(QUEUE.incidents, { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    stops.push(pipeline, () => outbox.close(), () => notify.close(), () => incidentQueue.close());
  });

  after(async () => {
    for (const stop of stops) await stop();
    await Promise.all([endpoint?.stop(), oncall?.stop()]);
    blocking?.disconnect();
    commands?.disconnect();
    await redis?.stop();
  });

  it("holds Chat at its outage once it has changed 4 times, and tells on-call so in the incident's timeline", async () => {
    const held = await waitFor("Chat held by flap suppression", async () => {
      const chat = (await status.store.components()).get("chat");
      return chat?.reason?.startsWith("Flapping:") ? chat : undefined;
    }, 30_000, 50);
    assert.equal(held.status, "major_outage", "held at the worse status while the endpoint answers 200");
    assert.ok(endpoint.requests.length >= 5, "the fifth run (a 200) made the fourth change");

    await waitFor("the flapping post at on-call", () => bodies().some((b) => b.data.update.body.includes("Flapping")), 10_000, 50);
    const posts = bodies();
    const incident = posts[0]!.data.incident.id;
    assert.ok(posts.every((b) => b.data.incident.id === incident), "one incident, not one per flap");
    const flapping = posts.filter((b) => b.data.update.body.includes("Flapping"));
    assert.equal(flapping.length, 1, "told once that it is held");
    assert.equal(flapping[0]!.data.update.body, FLAPPING);
    assert.equal(flapping[0]!.type, "incident.updated");
    const statuses = posts.map((b) => b.data.update.status);
    assert.deepEqual(statuses.slice(0, 3), ["investigating", "monitoring", "investigating"], "opened, recovered, relapsed: then held");
    assert.match(posts[2]!.data.update.body, /^Relapse: Chat: major outage\. Chat page failed from local: http:\/\/127\.0\.0\.1:\d+\/health answered HTTP 500: "boom"; expected 200-399/);

    // Two more runs evaluated while held, and the incident worker idle: a second "held" entry would be written by now.
    const toldAt = oncall.requests.find((r) => (r.json as WebhookBody).data.update.body.includes("Flapping"))!.at;
    await waitFor("two more runs evaluated while held", async () => {
      const last = (await status.store.lastResults("chat-page", ["local"])).get("local");
      return last !== undefined && Date.parse(last.started_at) > toldAt + 1_500;
    }, 10_000, 50);
    await waitFor("the incident worker to be idle", async () => Object.values(await incidentQueue.getJobCounts("waiting", "active", "prioritized")).every((n) => n === 0), 10_000, 50);
    const timeline = (await status.store.incident(incident))!.updates;
    assert.equal(timeline.filter((u) => (u.detail ?? u.body).includes("Flapping")).length, 1, "held once, said once");
    assert.equal((await status.store.components()).get("chat")?.status, "major_outage", "still held");
  });
});
