import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { phaseOf, type Logger } from "../core/index.ts";
import { Keys } from "../status/index.ts";
import { bullPrefix, probeQueue, type ProbeJob } from "./queues.ts";

export interface ScheduleSyncResult {
  upserted: number;
  removed: number;
}

/**
 * Makes the BullMQ job schedulers match the config: one scheduler per probe
 * and location (but remote locations, whose agents keep their own clock),
 * every `interval`, at the probe's own phase in it (phaseOf:
 * a new probe's first run comes within one interval, not at once);
 * schedulers of probes or locations no longer configured, or of probes a
 * person paused, are removed. Idempotent, so any number of schedulers may
 * run it.
 */
export async function syncSchedules(config: Config, connection: Redis, log: Logger): Promise<ScheduleSyncResult> {
  const prefix = bullPrefix(config.redis.prefix);
  const knownQueuesKey = `${config.redis.prefix}:probe-queues`;
  const paused = new Set(await connection.smembers(new Keys(config.redis.prefix).pausedProbes));
  const wanted = new Map<string, Map<string, { every: number; data: ProbeJob }>>();
  // A remote location's agent runs its probes on its own clock and pushes the results over HTTPS; a queue
  // for it would only fill up. Heartbeat checks are not run at all: something outside pings them.
  for (const location of config.locations) if (!location.remote) wanted.set(probeQueue(location.id), new Map());
  for (const probe of config.probes) {
    if (!probe.enabled || paused.has(probe.id) || probe.kind === "heartbeat") continue;
    for (const location of probe.locations) {
      wanted.get(probeQueue(location))?.set(probe.id, { every: probe.interval, data: { probe: probe.id, location } });
    }
  }
  const previous = await connection.smembers(knownQueuesKey);
  const queueNames = new Set([...previous, ...wanted.keys()]);
  let upserted = 0;
  let removed = 0;
  for (const name of queueNames) {
    const queue = new Queue<ProbeJob>(name, { connection, prefix });
    try {
      const desired = wanted.get(name) ?? new Map();
      for (const [id, { every, data }] of desired) {
        await queue.upsertJobScheduler(id, { every, offset: phaseOf(id, every) }, { name: "probe", data, opts: { removeOnComplete: true, removeOnFail: 100 } });
        upserted++;
      }
      for (const scheduler of await queue.getJobSchedulers()) {
        if (!desired.has(scheduler.key)) {
          await queue.removeJobScheduler(scheduler.key);
          removed++;
        }
      }
    } finally {
      await queue.close();
    }
  }
  await connection.sadd(knownQueuesKey, ...wanted.keys());
  const gone = previous.filter((name) => !wanted.has(name));
  if (gone.length > 0) await connection.srem(knownQueuesKey, ...gone);
  log.child({ module: "pipeline.schedules" }).info({ upserted, removed }, "probe schedules in line with config");
  return { upserted, removed };
}

export { phaseOf };
