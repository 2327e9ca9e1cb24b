import { Queue, Worker, type Job } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config, ResolvedProbe } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import { closeCanaries, runProbe, type PlatformTargets, type ProbeRegistry } from "../probe-runtime/index.ts";
import { bullPrefix, probeQueue, QUEUE, type EvaluateJob, type ProbeJob } from "./queues.ts";
import { Keys } from "../status/index.ts";
import { RoleMetrics } from "./role-metrics.ts";
import { watchWorker } from "./worker-watchdog.ts";

export interface AgentOptions {
  config: Config;
  registry: ProbeRegistry;
  location: string;
  /** A connection made with the `blocking` profile. */
  connection: Redis;
  log: Logger;
  /** Probe runs in flight at once; a slow probe never delays the others. @defaultValue 64 */
  concurrency?: number;
  /** Where its probe runs are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
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
  const pausedKey = new Keys(options.config.redis.prefix).pausedProbes;
  const metrics = options.metrics ?? new RoleMetrics("agent", { runtime: false });
  const runs = metrics.counter("pulseboard_probe_runs_total", "Probe runs by probe, location and result status", ["probe", "location", "status"]);
  const latency = metrics.histogram("pulseboard_probe_run_duration_seconds", "Latency the probe runs measured", ["probe", "location"]);
  const skipped = metrics.counter("pulseboard_probe_runs_skipped_total", "Scheduled runs not made: stale (waited over two intervals), disabled, not configured here", ["location", "reason"]);
  const lateness = metrics.histogram("pulseboard_probe_start_delay_seconds", "How long after its slot a scheduled run started (the agent falling behind shows here first)", ["location"]);

  const worker = new Worker<ProbeJob>(
    probeQueue(location),
    async (job: Job<ProbeJob>) => {
      const probe = probes.get(job.data.probe);
      if (!probe || !probe.locations.includes(location)) return skip("not configured here");
      if (probe.kind === "heartbeat") return skip("heartbeat checks are pinged, never run");
      // How long after its slot the run starts: the agent's own queueing (busy, or down) shows here first.
      const lateMs = job.data.manual ? 0 : Date.now() - (job.timestamp + (job.opts.delay ?? 0));
      if (!job.data.manual) {
        if (!probe.enabled) return skip("disabled");
        // Pausing removes the probe's schedulers, but a run already queued (or delayed by a busy agent) would still start.
        if ((await connection.sismember(pausedKey, probe.id)) === 1) return skip("paused");
        lateness.observe({ location }, Math.max(0, lateMs) / 1000);
        if (lateMs > 2 * probe.interval) {
          log.warn({ probe: probe.id, lateMs }, "skipping a probe run that waited too long in the queue");
          return { ...skip("stale"), late_ms: lateMs };
        }
      }
      const result = await runOne(probe);
      await evaluate.add("result", { result }, { jobId: result.id, removeOnComplete: 1_000, removeOnFail: 5_000, attempts: 5, backoff: { type: "exponential", delay: 500 } });
      return job.data.manual ? { result } : { status: result.status, latency_ms: result.latency_ms, late_ms: lateMs };
    },
    { connection, prefix, concurrency: options.concurrency ?? 64 },
  );
  worker.on("error", (err) => log.warn({ err: err.message }, "probe worker error"));
  metrics.observe(worker, probeQueue(location));
  watchWorker(worker, { log, metrics });
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
    runs.inc({ probe: probe.id, location, status: result.status });
    latency.observe({ probe: probe.id, location }, result.latency_ms / 1000);
    const line = { probe: probe.id, status: result.status, latency_ms: result.latency_ms, error: result.error };
    if (result.status === "ok") log.debug(line, "probe result");
    else log.info(line, "probe result");
    return result;
  }

  function skip(reason: string): { skipped: string } {
    skipped.inc({ location, reason: reason.replaceAll(" ", "_") });
    return { skipped: reason };
  }

  return {
    update(config) {
      probes = new Map(config.probes.map((p) => [p.id, p]));
      targets = platformTargets(config);
    },
    async close() {
      await worker.close();
      await evaluate.close();
      // The safeguard kind's long-lived canaries outlive runs, not the agent.
      closeCanaries();
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
    // A redis probe without a URL of its own checks one server: a cache behind Sentinel is not one.
    cacheRedisUrl: typeof config.cache.target === "string" ? config.cache.target : undefined,
  };
}
