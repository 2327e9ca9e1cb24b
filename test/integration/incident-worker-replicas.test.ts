import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { sleep } from "../../src/core/index.ts";
import { bullPrefix, QUEUE, startIncidentWorker, type IncidentJob } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Two incident workers, as two worker replicas run them (each with its own
 * connections), handed the transitions of one failing result that feeds four
 * components at once: every component joins one automatic incident. Without
 * the incidents queue's global concurrency of one, each worker found no
 * automatic incident and opened its own, and all but the last one opened
 * were left unresolved for ever.
 */
const COMPONENTS = ["gateway", "chat", "qa", "notifications"];
const ROUNDS = 5;

describe("incident workers of two replicas share one automatic incident (real redis-server, BullMQ)", () => {
  let redis: TestRedis;
  const connections: Redis[] = [];
  const connect = (blocking: boolean): Redis => {
    const redisClient = new Redis(redis.url, { maxRetriesPerRequest: blocking ? null : 1 });
    connections.push(redisClient);
    return redisClient;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of connections) c.disconnect();
    await redis.stop();
  });

  it(`transitions of four components taken by two workers at once open one incident (${ROUNDS} rounds)`, async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const config = await configFrom(`
redis: { prefix: ${uniquePrefix("replicas")} }
page: { name: Replicas, url: "https://status.replicas.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components: [${COMPONENTS.map((id) => `{ id: ${id}, name: ${id} }`).join(", ")}]
probes:
  - { id: safeguard, kind: websocket, interval: 1s, timeout: 500ms, components: [${COMPONENTS.join(", ")}] }
`);
      const log = testLog();
      const workers = [0, 1].map(() => {
        const status: StatusContext = { store: new StatusStore(connect(false), config.redis.prefix), components: config.components, publish: config.incidents.publish };
        return startIncidentWorker({ config, status, connection: connect(true), log });
      });
      const store = new StatusStore(connect(false), config.redis.prefix);
      const queue = new Queue<IncidentJob>(QUEUE.incidents, { connection: connect(false), prefix: bullPrefix(config.redis.prefix) });
      try {
        // Both workers idle, waiting on the queue: the way the evaluator queues one result's transitions, back to back.
        await sleep(300);
        const at = new Date().toISOString();
        const jobs = await queue.addBulk(
          COMPONENTS.map((component) => ({
            name: "transition",
            data: { transition: { component, from: "operational", to: "major_outage", at, reason: "Safeguard failed from local." } },
            opts: { jobId: `${component}.round-${round}`, attempts: 10, backoff: { type: "exponential", delay: 100 } },
          })),
        );
        await waitFor("every transition handled", async () => (await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))?.finishedOn))).every(Boolean), 15_000, 25);
        const incidents = await store.recentIncidents(10);
        assert.equal(incidents.length, 1, `round ${round}: one incident, not one per worker (${incidents.map((i) => `${i.id}: ${Object.keys(i.components).join(", ")}`).join("; ")})`);
        assert.deepEqual(Object.keys(incidents[0]!.components).sort(), [...COMPONENTS].sort(), `round ${round}: every component joined it`);
        assert.equal(await store.automaticIncidentId(), incidents[0]!.id);
      } finally {
        await Promise.all(workers.map((w) => w.close()));
        await queue.close();
      }
    }
  });

  it("the same change reported by two evaluators (two results of one component, side by side) is on the timeline once", async () => {
    const config = await configFrom(`
redis: { prefix: ${uniquePrefix("replicas")} }
page: { name: Replicas, url: "https://status.replicas.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: gateway, name: Gateway }, { id: chat, name: Chat }]
probes:
  - { id: safeguard, kind: websocket, interval: 1s, timeout: 500ms, components: [gateway, chat] }
  - { id: chat-echo, kind: websocket, interval: 1s, timeout: 500ms, components: [chat] }
`);
    const status: StatusContext = { store: new StatusStore(connect(false), config.redis.prefix), components: config.components, publish: config.incidents.publish };
    const worker = startIncidentWorker({ config, status, connection: connect(true), log: testLog() });
    const queue = new Queue<IncidentJob>(QUEUE.incidents, { connection: connect(false), prefix: bullPrefix(config.redis.prefix) });
    try {
      const at = new Date().toISOString();
      const change = (component: string, result: string) => ({
        name: "transition",
        data: { transition: { component, from: "operational" as const, to: "major_outage" as const, at, reason: `${result} failed from local.` } },
        opts: { jobId: `${component}.${result}` },
      });
      // The safeguard's result moved both components; chat-echo's, evaluated at once in the other replica, saw chat's change too.
      const jobs = await queue.addBulk([change("gateway", "safeguard-1"), change("chat", "safeguard-1"), change("chat", "chat-echo-1")]);
      await waitFor("every transition handled", async () => (await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id!))?.finishedOn))).every(Boolean), 15_000, 25);
      const [incident] = await status.store.recentIncidents(10);
      assert.ok(incident);
      const details = incident.updates.map((u) => u.detail ?? u.body);
      assert.equal(details.filter((d) => d.startsWith("Chat: major outage.")).length, 1, `chat's outage once: ${JSON.stringify(details)}`);
      assert.equal(incident.updates.length, 2, "the opening (gateway) and chat joining it");
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
