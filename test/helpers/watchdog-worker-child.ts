/**
 * A BullMQ worker in a process of its own whose way to Redis turns into a
 * black hole for good, for the test that the worker watchdog, when its
 * restarts cannot revive the worker, exits the process (as the supervisor
 * expects) instead of waiting forever. Reads WATCHDOG_CHILD (JSON:
 * { redisUrl, prefix }); logs as JSON lines on stdout.
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { connectRedis, createLogger } from "../../src/core/index.ts";
import { watchWorker } from "../../src/pipeline/index.ts";
import { startTcpProxy } from "./tcp-proxy.ts";
import { waitFor } from "./wait.ts";

const { redisUrl, prefix } = JSON.parse(process.env.WATCHDOG_CHILD ?? "{}") as { redisUrl: string; prefix: string };
const log = createLogger({ level: "info", pretty: false });
const proxy = await startTcpProxy(redisUrl);
const connection = connectRedis(proxy.url, { profile: "blocking", name: "watchdog-child", log });
const done: number[] = [];
const worker = new Worker("stuck", async (job) => void done.push(job.data.n as number), { connection, prefix, lockDuration: 2_000 });
worker.on("error", () => {});
// The watchdog looks at the queue past the black hole (as it would if only the worker's path were cut off).
const direct = new Redis(redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 3_000 });
watchWorker(worker, { log, stuckAfterMs: 2_000, intervalMs: 500, maxRestarts: 1, check: direct });
const producer = new Queue("stuck", { connection: direct, prefix });
await producer.add("job", { n: 0 });
await waitFor("the first job", () => done.length === 1, 10_000, 20);
log.info({ silenced: proxy.silence({ future: true }) }, "the path to redis is a black hole now");
await producer.add("job", { n: 1 });
