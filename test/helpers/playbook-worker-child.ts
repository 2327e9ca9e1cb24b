/**
 * A playbook worker in a process of its own, for tests that kill it
 * (SIGKILL) in the middle of a run. Started by `spawnPlaybookWorker` with its
 * config in PLAYBOOK_CHILD (base64 JSON: { yaml, redisUrl, name }); prints
 * "ready" once it consumes the playbooks queue.
 */
import { Redis } from "ioredis";
import { createLogger } from "../../src/core/index.ts";
import { createFleetDriver } from "../../src/fleet/index.ts";
import { startPlaybookWorker } from "../../src/pipeline/index.ts";
import { StatusStore } from "../../src/status/index.ts";
import { configFrom } from "./config.ts";

const { yaml, redisUrl, name } = JSON.parse(Buffer.from(process.env.PLAYBOOK_CHILD ?? "", "base64").toString("utf8")) as { yaml: string; redisUrl: string; name: string };
const config = await configFrom(yaml, { REDIS_URL: redisUrl });
const log = createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent", pretty: false, base: { child: name } });
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
const status = { store: new StatusStore(redis, config.redis.prefix), components: config.components };
startPlaybookWorker({ config, status, connection, redis, fleet: createFleetDriver(config, log), log, tickMs: 200, lockTtlMs: 3_000, incidentWaitMs: 300, name });
process.stdout.write("ready\n");
