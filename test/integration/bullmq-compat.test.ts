import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { Queue, Worker } from "bullmq";
import { connectRedis } from "../../src/core/index.ts";
import { testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const require = createRequire(import.meta.url);

/**
 * BullMQ is tested upstream on ioredis 5 (RESP2); ioredis 6 would speak RESP3
 * by default. This pins down that the pair we ship works on the Redis that
 * Debian ships (7.0) with the connection options our roles use.
 */
describe("BullMQ and ioredis on this redis-server", () => {
  let redis: TestRedis;
  before(async () => (redis = await startRedis()));
  after(async () => redis.stop());

  it("uses ioredis 5 against a Redis new enough for BullMQ 6 (6.2+)", async () => {
    const ioredis = require("ioredis/package.json") as { version: string };
    const bullmq = require("bullmq/package.json") as { version: string };
    assert.equal(ioredis.version.split(".")[0], "5", `ioredis ${ioredis.version}`);
    assert.equal(bullmq.version.split(".")[0], "6", `bullmq ${bullmq.version}`);
    const info = await redis.client.info("server");
    const [major, minor] = /redis_version:(\d+)\.(\d+)/.exec(info)!.slice(1).map(Number) as [number, number];
    assert.ok(major > 6 || (major === 6 && minor >= 2), `redis ${major}.${minor}`);
  });

  it("runs a job scheduler's jobs through a worker on our blocking connection profile", async () => {
    const connection = connectRedis(redis.url, { profile: "blocking", name: "compat", log: testLog() });
    const prefix = uniquePrefix("compat");
    const queue = new Queue("ticks", { connection, prefix });
    const seen: number[] = [];
    const worker = new Worker("ticks", async (job) => void seen.push(job.data.n as number), { connection, prefix });
    try {
      await queue.upsertJobScheduler("every-300ms", { every: 300 }, { name: "tick", data: { n: 1 } });
      await waitFor("three scheduled jobs to run", () => seen.length >= 3, 5_000);
      assert.deepEqual((await queue.getJobSchedulers()).map((s) => s.key), ["every-300ms"]);
      await queue.removeJobScheduler("every-300ms");
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
    }
  });
});
