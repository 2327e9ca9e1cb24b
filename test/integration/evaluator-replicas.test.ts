import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { newId } from "../../src/core/index.ts";
import { bullPrefix, QUEUE, startEvaluator, type EvaluateJob, type IncidentJob } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Two evaluators, as two worker replicas run them (each with its own
 * connections), taking the results of one probe off the same queue at once.
 * Each component must change once per change of the probe's verdict: without
 * a lock held across processes, both read "operational" and both reported
 * the outage (seen in the replicas e2e test as "Chat: major outage." twice on
 * one incident's timeline).
 */
const COMPONENTS = ["gateway", "chat"];
const ROUNDS = 4;
const BATCH = 8;

describe("evaluators of two worker replicas report each component change once (real redis-server, BullMQ)", () => {
  let redis: TestRedis;
  const connections: Redis[] = [];
  const connect = (blocking: boolean): Redis => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: blocking ? null : 1 });
    connections.push(client);
    return client;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of connections) c.disconnect();
    await redis.stop();
  });

  it(`${ROUNDS} rounds of ${BATCH} failing then ${BATCH} passing results taken by two evaluators: two changes per component a round`, async (t) => {
    const config = await configFrom(`
redis: { prefix: ${uniquePrefix("evaluators")} }
page: { name: Evaluators, url: "https://status.evaluators.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 100 }
locations: [{ id: local }]
components: [${COMPONENTS.map((id) => `{ id: ${id}, name: ${id} }`).join(", ")}]
probes:
  - { id: safeguard, kind: websocket, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, components: [${COMPONENTS.join(", ")}] }
`);
    const log = testLog();
    const evaluators = [0, 1].map(() => {
      const status: StatusContext = { store: new StatusStore(connect(false), config.redis.prefix), components: config.components, publish: config.incidents.publish };
      return startEvaluator({ config, status, connection: connect(true), log });
    });
    const prefix = bullPrefix(config.redis.prefix);
    const results = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: connect(false), prefix });
    const incidents = new Queue<IncidentJob>(QUEUE.incidents, { connection: connect(false), prefix });
    try {
      const batch = async (outcome: ProbeStatus): Promise<void> => {
        const at = new Date().toISOString();
        const jobs = await results.addBulk(
          Array.from({ length: BATCH }, () => {
            const result: ProbeResult = { id: newId(16), probe: "safeguard", kind: "websocket", location: "local", status: outcome, latency_ms: 5, phases: {}, started_at: at, finished_at: at, error: outcome === "failed" ? "connect: connection refused" : undefined };
            return { name: "result", data: { result }, opts: { jobId: result.id } };
          }),
        );
        await waitFor(`the ${outcome} results evaluated`, async () => (await Promise.all(jobs.map(async (j) => (await results.getJob(j.id!))?.finishedOn))).every(Boolean), 15_000, 20);
      };
      for (let round = 0; round < ROUNDS; round++) {
        await batch("failed");
        await batch("ok");
      }
      const transitions = (await incidents.getJobs(["waiting", "delayed", "prioritized"], 0, -1)).flatMap((j) => ("transition" in j.data ? [j.data.transition] : []));
      for (const component of COMPONENTS) {
        const mine = transitions.filter((x) => x.component === component);
        const down = mine.filter((x) => x.to === "major_outage").length;
        const up = mine.filter((x) => x.to === "operational").length;
        t.diagnostic(`${component}: ${down} changes to major outage, ${up} back to operational`);
        assert.equal(down, ROUNDS, `${component}: one change to major outage a round, not one per evaluator`);
        assert.equal(up, ROUNDS, `${component}: one change back a round`);
      }
    } finally {
      await Promise.all(evaluators.map((e) => e.close()));
      await results.close();
      await incidents.close();
    }
  });
});
