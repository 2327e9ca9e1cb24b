import { Queue, QueueEvents } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config, ResolvedProbe } from "../config/index.ts";
import { connectRedisLike, TimeoutError, ValidationError, type Logger } from "../core/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import type { StatusStore } from "../status/index.ts";
import { bullPrefix, probeQueue, type ProbeJob } from "./queues.ts";
import { syncSchedules } from "./schedules.ts";

/** Extra time a run-now waits beyond the probe's own timeout for an agent to pick it up. */
const PICKUP_MS = 10_000;

/**
 * Pause, resume and run-now for people (the admin API). Pausing records the
 * probe in the store and removes its schedules at once (the scheduler keeps
 * them removed); run-now goes through the location's queue, so it runs where
 * and how a scheduled run would.
 */
export class ProbeControl {
  private readonly queues = new Map<string, { queue: Queue<ProbeJob>; events: QueueEvents; connection: Redis }>();

  constructor(
    /** `connection`: a `command` one; run-now listens for results on a blocking one made like it. */
    private readonly options: { config: () => Config; connection: Redis; store: StatusStore; log: Logger },
  ) {}

  async setPaused(probe: string, paused: boolean): Promise<void> {
    await this.options.store.setProbePaused(probe, paused);
    await syncSchedules(this.options.config(), this.options.connection, this.options.log);
    this.options.log.info({ probe, paused }, paused ? "probe paused" : "probe resumed");
  }

  async runNow(probe: ResolvedProbe, location: string): Promise<ProbeResult> {
    // Neither has a queue an agent here consumes: a run-now would wait out its deadline for nothing.
    if (probe.kind === "heartbeat") throw new ValidationError([`${probe.id} is a heartbeat check: it is pinged (POST /api/heartbeat/${probe.id}), never run`]);
    if (this.options.config().locations.some((l) => l.id === location && l.remote)) {
      throw new ValidationError([`location: ${location} is remote: its agent runs ${probe.id} on its own clock and pushes the result; the next one comes within ${Math.round(probe.interval / 1000)} s`]);
    }
    const { queue, events } = await this.queueFor(location);
    const job = await queue.add("probe", { probe: probe.id, location, manual: true }, { removeOnComplete: { age: 600 }, removeOnFail: { age: 600 } });
    const waitMs = probe.timeout + PICKUP_MS;
    try {
      const value = (await job.waitUntilFinished(events, waitMs)) as { result?: ProbeResult; skipped?: string };
      if (!value.result) throw new Error(`the agent did not run it: ${value.skipped ?? "no result"}`);
      return value.result;
    } catch (err) {
      if (/timed out/i.test((err as Error).message)) {
        await job.remove().catch(() => {});
        throw new TimeoutError(`no agent at location ${location} ran ${probe.id} within ${Math.round(waitMs / 1000)} s: is \`pulseboard agent --location ${location}\` running?`);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    for (const { queue, events, connection } of this.queues.values()) {
      await events.close();
      await queue.close();
      connection.disconnect();
    }
    this.queues.clear();
  }

  private async queueFor(location: string) {
    let entry = this.queues.get(location);
    if (!entry) {
      const prefix = bullPrefix(this.options.config().redis.prefix);
      // Outages are reported by the role's own connections, so this one logs nothing.
      const connection = connectRedisLike(this.options.connection, { profile: "blocking", name: `probe-events-${location}` });
      const events = new QueueEvents(probeQueue(location), { connection, prefix });
      entry = { queue: new Queue<ProbeJob>(probeQueue(location), { connection: this.options.connection, prefix }), events, connection };
      this.queues.set(location, entry);
      await events.waitUntilReady();
    }
    return entry;
  }
}
