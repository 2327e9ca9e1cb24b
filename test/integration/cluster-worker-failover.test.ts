import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { Queue, Worker } from "bullmq";
import { pino } from "pino";
import { closeRedis, connectRedis, type Logger, type RedisConnection } from "../../src/core/index.ts";
import { bullPrefix, watchWorker } from "../../src/pipeline/index.ts";
import { startRedisCluster, type RedisClusterGroup } from "../helpers/redis-cluster.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/** Generous: a cluster with cluster-node-timeout 1000 ms fails over in a few seconds. */
const FAILOVER_BOUND_MS = 20_000;
/**
 * How soon after the failover the worker must take a job again: by itself,
 * since the watchdog counts a scheduled run only 10 s past its time and then
 * waits its 15 s threshold.
 */
const TAKES_AGAIN_BOUND_MS = 25_000;

/** A logger writing JSON lines to memory, to say in a failure what the worker and its watchdog logged. */
function captured(): { log: Logger; lines(): string[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  return { log: pino({ level: "debug" }, sink), lines: () => chunks.join("").split("\n").filter(Boolean) };
}

/** A hash-tagged prefix whose slot is on a primary with a replica in sync, so killing that primary fails over. */
async function prefixOnFailoverableShard(cluster: RedisClusterGroup): Promise<{ prefix: string; primary: number }> {
  for (;;) {
    const prefix = `{${uniquePrefix("cwf")}}`;
    const primary = await cluster.primaryOf(prefix);
    if (/connected_slaves:[1-9]/.test(await cluster.client(primary).info("replication").catch(() => ""))) return { prefix, primary };
  }
}

/**
 * A BullMQ worker wired like the agent's probe worker (one `blocking`
 * connection of the cluster for the worker and a queue beside it,
 * concurrency 64, job schedulers every second, the worker watchdog with its
 * default timing, logging instead of exiting) and the primary of its queue's slot SIGKILLed: once the cluster
 * has promoted the replica, the worker takes the scheduled jobs again.
 * Each round kills the primary of another shard, so one cluster gives as
 * many rounds as it has primaries with a replica.
 */
describe("a BullMQ worker on a Redis Cluster whose queue's primary is SIGKILLed (six real redis-server nodes)", { timeout: 240_000 }, () => {
  let cluster: RedisClusterGroup;

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  for (const round of [1, 2, 3]) {
    it(`takes the scheduled jobs again after the cluster fails over (round ${round}: another shard's primary)`, async (t) => {
      const { log, lines } = captured();
      const { prefix, primary } = await prefixOnFailoverableShard(cluster);
      // Every node as a startup node: the rounds kill the three first primaries, the harness's whole target.
      const target = { ...cluster.target, clusterNodes: cluster.ports.map((port) => ({ host: "127.0.0.1", port })) };
      const connection: RedisConnection = connectRedis(target, { profile: "blocking", name: `agent-cwf-${round}`, log });
      const bull = bullPrefix(prefix);
      const queue = new Queue("probe-local", { connection, prefix: bull });
      queue.on("error", () => {});
      const taken: number[] = [];
      const worker = new Worker("probe-local", async () => void taken.push(Date.now()), { connection, prefix: bull, concurrency: 64 });
      worker.on("error", (err) => log.warn({ err: err.message }, "worker error"));
      const watchdog = watchWorker(worker, { log, giveUp: (reason) => log.error({ reason }, "watchdog gave up") });
      try {
        for (const id of ["every-1s-a", "every-1s-b"]) {
          await queue.upsertJobScheduler(id, { every: 1_000 }, { name: "probe", data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } });
        }
        await waitFor("the worker to take scheduled jobs before the kill", () => taken.length >= 4, 15_000, 50);

        await cluster.kill(primary);
        const killedAt = Date.now();
        const promoted = await cluster.waitForFailover(primary, prefix, FAILOVER_BOUND_MS);
        const promotedAt = Date.now();
        const takenAgain = await waitFor("the worker to take a scheduled job after the failover", () => {
          const after = taken.filter((at) => at > promotedAt);
          return after.length >= 3 && after[0]! - promotedAt;
        }, TAKES_AGAIN_BOUND_MS, 50).catch(async (err: Error) => {
          const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized").catch((e: Error) => e.message);
          const blocking = (await worker.backend.blockingClient) as unknown as RedisConnection;
          const state = {
            running: worker.isRunning(),
            takenBefore: taken.filter((at) => at <= killedAt).length,
            takenAfter: taken.filter((at) => at > promotedAt).length,
            connection: `${connection.status} (${"nodes" in connection ? (connection as { nodes(): unknown[] }).nodes().length : "?"} nodes)`,
            blocking: `${blocking.status} (${"nodes" in blocking ? (blocking as { nodes(): unknown[] }).nodes().length : "?"} nodes)`,
          };
          throw new Error(`${err.message}\nqueue: ${JSON.stringify(counts)}\nworker: ${JSON.stringify(state)}\nlogged:\n${lines().slice(-30).join("\n")}`);
        });
        t.diagnostic(`round ${round}: SIGKILL of 127.0.0.1:${primary}; 127.0.0.1:${promoted} promoted ${promotedAt - killedAt} ms after; the worker took a job again ${takenAgain} ms after that`);
      } finally {
        watchdog.stop();
        await worker.close(true).catch(() => {});
        await queue.close().catch(() => {});
        await closeRedis(connection);
      }
    });
  }
});
