import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { describeRedisTarget } from "../../src/core/index.ts";
import { configFrom, problemsOf } from "../helpers/config.ts";

const MINIMAL = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
probes:
  - { id: chat-echo, kind: websocket, components: [chat] }
`;

describe("Redis Cluster settings", () => {
  it("reads REDIS_CLUSTER_NODES into a cluster target, its password from REDIS_PASSWORD_FILE, and hash-tags the key prefix", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-cluster-secrets-"));
    writeFileSync(path.join(dir, "redis-password"), "cluster-secret-from-file\n");
    const config = await configFrom(`redis: { prefix: pb-test }\n${MINIMAL}`, {
      REDIS_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002,node-4",
      REDIS_PASSWORD_FILE: path.join(dir, "redis-password"),
      CACHE_REDIS_CLUSTER_NODES: "10.0.1.1:7000",
      CACHE_REDIS_PASSWORD: "cache-cluster-secret",
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
    assert.deepEqual(config.redis.target, {
      clusterNodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
        { host: "::1", port: 7002 },
        { host: "node-4", port: 6379 },
      ],
      password: "cluster-secret-from-file",
    });
    assert.deepEqual(config.cache.target, { clusterNodes: [{ host: "10.0.1.1", port: 7000 }], password: "cache-cluster-secret" });
    // One slot for every control-plane key: BullMQ's prefix becomes {pb-test}:bull.
    assert.equal(config.redis.prefix, "{pb-test}");
    const described = describeRedisTarget(config.redis.target!);
    assert.equal(described, "the Redis Cluster at 10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,node-4:6379");
    assert.ok(!described.includes("secret"));
  });

  it("leaves the prefix alone without a cluster, and lets cluster nodes in the environment replace the file's redis.url", async () => {
    assert.equal((await configFrom(`redis: { prefix: pb-test }\n${MINIMAL}`, { REDIS_URL: "redis://127.0.0.1:7000" })).redis.prefix, "pb-test");
    // A cache on a cluster does not move the control plane's keys.
    assert.equal((await configFrom(`redis: { prefix: pb-test }\n${MINIMAL}`, { REDIS_URL: "redis://127.0.0.1:7000", CACHE_REDIS_CLUSTER_NODES: "127.0.0.1:7001" })).redis.prefix, "pb-test");
    const fromFile = `redis: { url: "redis://file-host:6379" }\n${MINIMAL}`;
    const replaced = await configFrom(fromFile, { REDIS_CLUSTER_NODES: "127.0.0.1:7000" });
    assert.deepEqual(replaced.redis.target, { clusterNodes: [{ host: "127.0.0.1", port: 7000 }] });
  });

  it("refuses settings that contradict it, naming both variables", async () => {
    const either = (w: string) => `(${w}_URL for one server, ${w}_SENTINELS with ${w}_SENTINEL_NAME for a Sentinel group, or ${w}_CLUSTER_NODES for a Redis Cluster)`;
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_URL: "redis://127.0.0.1:6380", REDIS_CLUSTER_NODES: "127.0.0.1:7000" }), [
      `REDIS_URL and REDIS_CLUSTER_NODES are both set: set one ${either("REDIS")}`,
    ]);
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_SENTINELS: "127.0.0.1:26379", REDIS_SENTINEL_NAME: "control", REDIS_CLUSTER_NODES: "127.0.0.1:7000" }), [
      `REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: set one ${either("REDIS")}`,
      `REDIS_SENTINEL_NAME and REDIS_CLUSTER_NODES are both set: set one ${either("REDIS")}`,
    ]);
    assert.deepEqual(await problemsOf(MINIMAL, { CACHE_REDIS_URL: "redis://127.0.0.1:6381", CACHE_REDIS_CLUSTER_NODES: "127.0.0.1:7000" }), [
      `CACHE_REDIS_URL and CACHE_REDIS_CLUSTER_NODES are both set: set one ${either("CACHE_REDIS")}`,
    ]);
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_CLUSTER_NODES: "127.0.0.1:7000", REDIS_SENTINEL_PASSWORD: "secret" }), [
      "REDIS_SENTINEL_PASSWORD: applies to REDIS_SENTINELS only; a Redis Cluster's password is REDIS_PASSWORD",
    ]);
  });

  it("names a node list it cannot read", async () => {
    for (const bad of ["127.0.0.1:port", "127.0.0.1:70000", ",", "a b:1"]) {
      const problems = await problemsOf(MINIMAL, { REDIS_CLUSTER_NODES: bad });
      assert.deepEqual(problems, [`REDIS_CLUSTER_NODES: expected cluster nodes as host:port,host:port (like 10.0.0.1:6379,10.0.0.2:6379), got ${JSON.stringify(bad)}`]);
    }
  });
});
