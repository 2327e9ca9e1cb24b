import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { connectRedis, sleep } from "../../src/core/index.ts";
import { startLeasedStreamReader } from "../../src/pipeline/index.ts";
import { testLog } from "../helpers/config.ts";
import { freeze } from "../helpers/processes.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The leased stream reader the outboxes are dispatched through (one reader
 * of a group at a time): a reader that closes hands its lease on at once,
 * and closing never hangs on a Redis that stopped answering.
 */
describe("leased stream reader: close (real redis-server)", () => {
  let redis: TestRedis;
  const connections: Redis[] = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of connections) c.disconnect();
    await redis.stop();
  });

  const reader = (prefix: string, handled: string[], handle?: () => Promise<void>) => {
    const connection = connectRedis(redis.url, { profile: "command", name: "test-reader" });
    connections.push(connection);
    return startLeasedStreamReader({
      connection,
      streams: [`${prefix}:stream`],
      group: "dispatch",
      leaseKey: `${prefix}:lease`,
      handle: async (_stream, id) => {
        await handle?.();
        handled.push(id);
      },
      log: testLog(),
      what: "test dispatch",
    });
  };

  it("gives its lease up when closed: the next reader handles new entries at once, not when the lease would expire", async (t) => {
    const prefix = uniquePrefix("lease");
    const first: string[] = [];
    const a = reader(prefix, first);
    await redis.client.xadd(`${prefix}:stream`, "*", "n", "1");
    await waitFor("the first reader to handle the entry", () => first.length === 1, 5_000, 20);
    await a.close();
    assert.equal(await redis.client.exists(`${prefix}:lease`), 0, "the lease is gone with its reader");
    const second: string[] = [];
    const b = reader(prefix, second);
    const added = Date.now();
    await redis.client.xadd(`${prefix}:stream`, "*", "n", "2");
    await waitFor("the second reader to handle the next entry", () => second.length === 1, 5_000, 20);
    t.diagnostic(`the next reader handled the entry ${Date.now() - added} ms after it was added (the lease lasts 10 s)`);
    assert.deepEqual(first.length, 1, "nothing handled twice");
    await b.close();
  });

  it("returns from close within a few seconds while Redis answers nothing, in the middle of an entry", async (t) => {
    const prefix = uniquePrefix("frozen");
    const handled: string[] = [];
    let inHandler = false;
    // A handler that waits on Redis, as the outbox's does (it queues a job): it cannot finish while Redis is frozen.
    const waiter = connectRedis(redis.url, { profile: "blocking", name: "test-handler" });
    connections.push(waiter);
    const r = reader(prefix, handled, async () => {
      inHandler = true;
      await sleep(300);
      await waiter.set(`${prefix}:handled`, "1");
    });
    await redis.client.xadd(`${prefix}:stream`, "*", "n", "1");
    await waitFor("the reader to be inside the handler", () => inHandler, 5_000, 10);
    await freeze(redis.pid);
    try {
      const started = Date.now();
      await r.close();
      const took = Date.now() - started;
      t.diagnostic(`close returned ${took} ms after it was called, Redis frozen`);
      assert.ok(took < 15_000, `close returned (${took} ms)`);
    } finally {
      process.kill(redis.pid, "SIGCONT");
    }
  });
});
