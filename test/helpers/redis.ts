import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { createLogger, findExecutable } from "../../src/core/index.ts";
import { EmbeddedRedis } from "../../src/supervisor/index.ts";

/** A real redis-server on a free port, owned by one test suite. */
export interface TestRedis {
  url: string;
  port: number;
  pid: number;
  /** A client for the test's own checks; closed by stop(). */
  client: Redis;
  /** Makes every client wait (CLIENT PAUSE) for `ms`. */
  pause(ms: number): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Starts a redis-server for a suite: `before(async () => (redis = await startRedis()))`. */
export async function startRedis(options: { persist?: boolean } = {}): Promise<TestRedis> {
  const binary = findExecutable("redis-server", process.env.PATH ?? "");
  if (!binary) throw new Error("redis-server is not installed: run `node scripts/system-deps.mjs redis-server`");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-test-redis-"));
  const server = new EmbeddedRedis({ name: "test", binary, dir, persist: options.persist ?? false, log: createLogger({ level: "silent", pretty: false }) });
  const url = await server.start();
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  return {
    url,
    port: Number(new URL(url).port),
    pid: server.pid!,
    client,
    async pause(ms) {
      await client.call("CLIENT", "PAUSE", String(ms), "ALL");
    },
    async stop() {
      client.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A key prefix no other test uses. */
export function uniquePrefix(name = "t"): string {
  return `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
