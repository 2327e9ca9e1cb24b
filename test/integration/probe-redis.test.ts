import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets } from "../../src/probe-runtime/index.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";
import { waitFor } from "../helpers/wait.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";

describe("probe kind redis (real redis-server)", () => {
  let redis: TestRedis;
  let targets: PlatformTargets;
  let extra: Redis[] = [];
  const run = (probe: string, settings: Record<string, unknown> = {}, timeoutMs = 2_000) => runKind("redis", settings, { targets, timeoutMs, probe });
  /** Opens `count` more clients to the test Redis, each connected before it resolves. */
  const connectMore = async (count: number): Promise<void> => {
    const clients = Array.from({ length: count }, () => new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null }));
    extra.push(...clients);
    await Promise.all(clients.map((c) => c.ping()));
  };
  const info = async (field: string): Promise<number> => Number(new RegExp(`^${field}:(\\d+)`, "m").exec(await redis.client.info())![1]);

  before(async () => {
    redis = await startRedis();
    targets = { gatewayUrl: "ws://127.0.0.1:1/ws", gatewayNodeUrls: [], cacheRedisUrl: redis.url };
  });
  afterEach(async () => {
    for (const client of extra) client.disconnect();
    extra = [];
    // Client counts in the next test start from the suite's own client alone.
    await waitFor("the test's extra clients to be gone", async () => (await info("connected_clients")) === 1);
    await redis.client.config("SET", "maxclients", "10000");
    await redis.client.config("SET", "maxmemory", "0");
    await redis.client.config("SET", "maxmemory-policy", "noeviction");
  });
  after(async () => {
    await redis.stop();
  });

  it("passes on a healthy server: PING, a SET/GET round trip on a key with a TTL, and INFO figures", async () => {
    const prefix = `${uniquePrefix("probe")}:`;
    const result = await run("cache-healthy", { key_prefix: prefix, key_ttl: "20s" });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "ping", "round trip", "info"]);
    const ttl = await redis.client.pttl(`${prefix}cache-healthy:local`);
    assert.ok(ttl > 0 && ttl <= 20_000, `the probe's key expires (pttl ${ttl})`);
    assert.equal(result.details?.maxclients, 10_000);
    assert.equal(typeof result.details?.connected_clients, "number");
    assert.equal(result.details?.new_rejected_connections, null, "the first run has nothing to compare with");
  });

  it("a pass slower than degraded_over is reported degraded", async () => {
    const result = await runKind("redis", {}, { targets, timeoutMs: 2_000, probe: "cache-slow", degradedOverMs: 0.001 });
    assert.equal(result.status, "degraded");
    assert.match(result.error!, /over the 0.001 ms threshold/);
  });

  it("a paused server (CLIENT PAUSE) fails at the deadline in the ping phase", async () => {
    await redis.pause(1_200);
    const result = await run("cache-paused", {}, 500);
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "ping");
    assert.equal(result.error, "timed out after 500 ms during ping");
    await new Promise((resolve) => setTimeout(resolve, 800));
  });

  it("a refused connection fails in the connect phase, naming the host", async () => {
    const port = await freePort();
    const result = await run("cache-refused", { url: `redis://127.0.0.1:${port}` });
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "connect");
    assert.equal(result.error, `connect: connection refused by 127.0.0.1:${port}: is Redis running?`);
  });

  it("a server at maxclients fails, saying it is at maxclients", async () => {
    await redis.client.config("SET", "maxclients", "3");
    await connectMore(2);
    const result = await run("cache-full");
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "ping");
    assert.match(result.error!, /Redis at 127\.0\.0\.1:\d+ is at maxclients and refuses new connections \("ERR max number of clients reached"\)/);
  });

  it("is degraded when connected clients are over 80% of maxclients", async () => {
    await redis.client.config("SET", "maxclients", "10");
    await connectMore(7);
    const result = await run("cache-crowded");
    assert.equal(result.status, "degraded");
    assert.match(result.error!, /^Redis at 127\.0\.0\.1:\d+: 9 of maxclients 10 connected \(90%, over 80%\): new connections are refused at 10$/);
    assert.match(result.error!, /over 80%/);
  });

  it("is degraded when a connection was rejected since its previous run, and only then", async () => {
    assert.equal((await run("cache-rejections")).status, "ok");
    // Existing clients stay; every new one is turned away.
    await redis.client.config("SET", "maxclients", "1");
    const rejected = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    rejected.on("error", () => {});
    await rejected.connect().catch(() => {});
    await rejected.ping().catch(() => {});
    rejected.disconnect();
    await redis.client.config("SET", "maxclients", "10000");
    assert.ok((await info("rejected_connections")) > 0, "the test got a connection rejected");
    const after = await run("cache-rejections");
    assert.equal(after.status, "degraded");
    assert.match(after.error!, /1 connection was rejected since the last run \(maxclients reached\)/);
    assert.equal(after.details?.new_rejected_connections, 1);
    assert.equal((await run("cache-rejections")).status, "ok", "an old rejection is not reported again");
  });

  it("is degraded when keys were evicted since its previous run, and when memory is over 90% of maxmemory", async () => {
    assert.equal((await run("cache-evictions")).status, "ok");
    const used = await info("used_memory");
    await redis.client.config("SET", "maxmemory-policy", "allkeys-lru");
    await redis.client.config("SET", "maxmemory", String(used + 512 * 1024));
    const prefix = uniquePrefix("fill");
    const value = "x".repeat(10_000);
    for (let i = 0; i < 200; i++) await redis.client.set(`${prefix}:${i}`, value);
    assert.ok((await info("evicted_keys")) > 0, "the test filled Redis past maxmemory");
    const result = await run("cache-evictions");
    assert.equal(result.status, "degraded");
    assert.match(result.error!, /\d+ keys were evicted since the last run \(maxmemory reached\)/);
    assert.match(result.error!, /used memory [\d.]+ MiB is [\d.]+% of maxmemory [\d.]+ MiB \(over 90%\): keys are evicted at the limit/);
  });

  it("is degraded when more clients than the threshold are blocked", async () => {
    const key = uniquePrefix("blocked");
    for (let i = 0; i < 2; i++) {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      extra.push(client);
      client.blpop(key, 0).catch(() => {});
    }
    await waitFor("two clients blocked in BLPOP", async () => (await info("blocked_clients")) === 2);
    const result = await run("cache-blocked", { blocked_clients_over: 1 });
    assert.equal(result.status, "degraded");
    assert.match(result.error!, /2 clients are blocked in blocking commands \(over 1\)/);
  });

  it("refuses settings that make no sense, naming the field", async () => {
    const probe = (await import("../../probes/redis.ts")).default;
    const parsed = probe.configSchema.safeParse({ clients_over: 1.5, key_ttl: "soon" });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error!.issues.map((i) => i.path.join(".")).sort(), ["clients_over", "key_ttl"]);
  });

  it("leaves no socket or timer behind after passes, pauses and refusals", async () => {
    const baseline = activeResources();
    const port = await freePort();
    await redis.pause(800);
    const paused = await Promise.all(Array.from({ length: 5 }, (_, i) => run(`cache-leak-${i}`, {}, 300)));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const others = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => run(`cache-leak-ok-${i}`)),
      ...Array.from({ length: 5 }, () => run("cache-leak-refused", { url: `redis://127.0.0.1:${port}` })),
    ]);
    assert.deepEqual(paused.map((r) => r.failed_phase), Array(5).fill("ping"));
    assert.deepEqual(others.map((r) => r.status), [...Array(5).fill("ok"), ...Array(5).fill("failed")]);
    await expectNoLeak(baseline);
  });
});
