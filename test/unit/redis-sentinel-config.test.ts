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

describe("Redis Sentinel settings", () => {
  it("reads REDIS_SENTINELS and REDIS_SENTINEL_NAME into a Sentinel target, passwords from their _FILE variables", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-sentinel-secrets-"));
    writeFileSync(path.join(dir, "redis-password"), "data-secret-from-file\n");
    writeFileSync(path.join(dir, "sentinel-password"), "sentinel-secret-from-file\n");
    const config = await configFrom(MINIMAL, {
      REDIS_SENTINELS: "10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381,sentinel-3",
      REDIS_SENTINEL_NAME: "control",
      REDIS_PASSWORD_FILE: path.join(dir, "redis-password"),
      REDIS_SENTINEL_PASSWORD_FILE: path.join(dir, "sentinel-password"),
      CACHE_REDIS_SENTINELS: "10.0.1.1:26379",
      CACHE_REDIS_SENTINEL_NAME: "cache",
      CACHE_REDIS_PASSWORD: "cache-data-secret",
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
    assert.deepEqual(config.redis.target, {
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "10.0.0.2", port: 26380 },
        { host: "::1", port: 26381 },
        { host: "sentinel-3", port: 26379 },
      ],
      name: "control",
      password: "data-secret-from-file",
      sentinelPassword: "sentinel-secret-from-file",
    });
    assert.deepEqual(config.cache.target, { sentinels: [{ host: "10.0.1.1", port: 26379 }], name: "cache", password: "cache-data-secret" });
    // What logs and errors say of it: where, never the passwords.
    const described = describeRedisTarget(config.redis.target!);
    assert.equal(described, 'the master "control" of the Sentinels at 10.0.0.1:26379,10.0.0.2:26380,[::1]:26381,sentinel-3:26379');
  });

  it("keeps REDIS_URL as it was, and lets Sentinels in the environment replace the file's redis.url", async () => {
    assert.equal((await configFrom(MINIMAL, { REDIS_URL: "redis://:pw@127.0.0.1:7000" })).redis.target, "redis://:pw@127.0.0.1:7000");
    assert.equal((await configFrom(MINIMAL)).redis.target, undefined);
    const fromFile = `redis: { url: "redis://file-host:6379" }\ncache: { url: "redis://file-cache:6379" }\n${MINIMAL}`;
    assert.equal((await configFrom(fromFile)).redis.target, "redis://file-host:6379");
    const replaced = await configFrom(fromFile, { REDIS_SENTINELS: "127.0.0.1:26379", REDIS_SENTINEL_NAME: "control" });
    assert.deepEqual(replaced.redis.target, { sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "control" });
    assert.equal(replaced.cache.target, "redis://file-cache:6379");
  });

  it("refuses settings that contradict each other, naming both variables", async () => {
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_URL: "redis://127.0.0.1:6380", REDIS_SENTINELS: "127.0.0.1:26379", REDIS_SENTINEL_NAME: "control" }), [
      "REDIS_URL and REDIS_SENTINELS are both set: set one (REDIS_URL for one server, or REDIS_SENTINELS with REDIS_SENTINEL_NAME for a Sentinel group)",
    ]);
    assert.deepEqual(await problemsOf(MINIMAL, { CACHE_REDIS_URL: "redis://127.0.0.1:6381", CACHE_REDIS_SENTINELS: "127.0.0.1:26379", CACHE_REDIS_SENTINEL_NAME: "cache" }), [
      "CACHE_REDIS_URL and CACHE_REDIS_SENTINELS are both set: set one (CACHE_REDIS_URL for one server, or CACHE_REDIS_SENTINELS with CACHE_REDIS_SENTINEL_NAME for a Sentinel group)",
    ]);
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_SENTINELS: "127.0.0.1:26379" }), [
      "REDIS_SENTINEL_NAME: REDIS_SENTINELS is set, so name the master the Sentinels watch (the <name> of `sentinel monitor <name> …`)",
    ]);
    assert.deepEqual(await problemsOf(MINIMAL, { CACHE_REDIS_SENTINEL_NAME: "cache" }), ["CACHE_REDIS_SENTINELS: CACHE_REDIS_SENTINEL_NAME is set, so list the Sentinels as host:port,host:port"]);
    assert.deepEqual(await problemsOf(MINIMAL, { REDIS_URL: "redis://127.0.0.1:6380", REDIS_PASSWORD: "secret" }), [
      "REDIS_PASSWORD: applies to REDIS_SENTINELS or REDIS_CLUSTER_NODES only; with REDIS_URL the password goes in the URL (redis://:password@host:6379)",
    ]);
  });

  it("names a Sentinel list it cannot read", async () => {
    for (const bad of ["127.0.0.1:port", "127.0.0.1:70000", ",", "a b:1"]) {
      const problems = await problemsOf(MINIMAL, { REDIS_SENTINELS: bad, REDIS_SENTINEL_NAME: "control" });
      assert.deepEqual(problems, [`REDIS_SENTINELS: expected Sentinels as host:port,host:port (like 10.0.0.1:26379,10.0.0.2:26379), got ${JSON.stringify(bad)}`]);
    }
  });
});
