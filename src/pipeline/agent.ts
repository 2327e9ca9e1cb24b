import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Config, ResolvedProbe } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import { runProbe, type PlatformTargets, type ProbeRegistry } from "../probe-runtime/index.ts";
import { bullPrefix, probeQueue, QUEUE, type EvaluateJob, type ProbeJob } from "./queues.ts";

export interface AgentOptions {
  config: Config;
  registry: ProbeRegistry;
  location: string;
  /** A connection made with the `blocking` profile. */
  connection: Redis;
  log: Logger;
  /** Probe runs in flight at once; a slow probe never delays the others. @defaultValue 64 */
  concurrency?: number;
}

/** A running agent: consumes one location's probe queue. */
export interface Agent {
  /** Takes a reloaded config: probes added, changed or removed apply to the next run. */
  update(config: Config): void;
  close(): Promise<void>;
}

/**
 * Runs the probes scheduled for one location and hands every result to the
 * evaluate queue. A job that waited longer than two intervals (the agent was
 * down) is skipped: a late probe says nothing about now. A scheduled job's
 * return value carries `late_ms`, how long after its slot the run started,
 * so BullMQ's event stream shows an agent falling behind.
 */
export function startAgent(options: AgentOptions): Agent {
  const { registry, location, connection } = options;
  const log = options.log.child({ module: "pipeline.agent", location });
  const prefix = bullPrefix(options.config.redis.prefix);
  let probes = new Map(options.config.probes.map((p) => [p.id, p]));
  let targets = platformTargets(options.config);
  const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection, prefix });

  const worker = new Worker<ProbeJob>(
    probeQueue(location),
    async (job: Job<ProbeJob>) => {
      const probe = probes.get(job.data.probe);
      if (!probe || !probe.locations.includes(location)) return { skipped: "not configured here" };
      // How long after its slot the run starts: the agent's own queueing (busy, or down) shows here first.
      const lateMs = job.data.manual ? 0 : Date.now() - (job.timestamp + (job.opts.delay ?? 0));
      if (!job.data.manual) {
        if (!probe.enabled) return { skipped: "disabled" };
        if (lateMs > 2 * probe.interval) {
          log.warn({ probe: probe.id, lateMs }, "skipping a probe run that waited too long in the queue");
          return { skipped: "stale", late_ms: lateMs };
        }
      }
      const result = await runOne(probe);
      await evaluate.add("result", { result }, { jobId: result.id, removeOnComplete: 1_000, removeOnFail: 5_000, attempts: 5, backoff: { type: "exponential", delay: 500 } });
      return job.data.manual ? { result } : { status: result.status, latency_ms: result.latency_ms, late_ms: lateMs };
    },
    { connection, prefix, concurrency: options.concurrency ?? 64 },
  );
  worker.on("error", (err) => log.warn({ err: err.message }, "probe worker error"));
  log.info({ queue: probeQueue(location) }, "agent consuming probe queue");

  async function runOne(probe: ResolvedProbe) {
    const kind = registry.get(probe.kind);
    if (!kind) throw new Error(`probe kind ${probe.kind} is not installed in probes/`);
    const result = await runProbe(kind, probe.with, {
      probe: probe.id,
      location,
      timeoutMs: probe.timeout,
      degradedOverMs: probe.degraded_over,
      targets,
      log: log.child({ module: `probe.${probe.kind}`, probe: probe.id }),
    });
    const line = { probe: probe.id, status: result.status, latency_ms: result.latency_ms, error: result.error };
    if (result.status === "ok") log.debug(line, "probe result");
    else log.info(line, "probe result");
    return result;
  }

  return {
    update(config) {
      probes = new Map(config.probes.map((p) => [p.id, p]));
      targets = platformTargets(config);
    },
    async close() {
      await worker.close();
      await evaluate.close();
    },
  };
}

/** Where the probes of this config find the managed platform. */
export function platformTargets(config: Config): PlatformTargets {
  const nodeUrl = (index: number): string => {
    const url = new URL(config.gateway.url);
    url.port = String(config.gateway.nodePortBase + index);
    return url.toString();
  };
  return {
    gatewayUrl: config.gateway.url,
    gatewayNodeUrls: Array.from({ length: config.gateway.nodes }, (_, i) => nodeUrl(i)),
    gatewayAdmin: { url: config.gateway.adminUrl, token: config.gateway.adminToken },
    cacheRedisUrl: config.cache.url,
  };
}
