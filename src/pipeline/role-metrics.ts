import { hostname } from "node:os";
import type { Worker } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import { AggregatorRegistry, Counter, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import { describeError, type Logger } from "../core/index.ts";
import { collectRuntimeMetrics } from "./runtime-metrics.ts";

/** The roles that publish their metrics for the web role's /metrics. */
export type PublishingRole = "worker" | "agent" | "scheduler";

/** How often a process publishes its metrics. */
const PUBLISH_MS = 5_000;
/** A process that stopped publishing (it died) leaves /metrics after this long. */
const STALE_MS = 3 * PUBLISH_MS;
/** Seconds buckets for job and probe durations: 5 ms to 1 min. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** Where published metrics live in the control-plane Redis. */
function keysOf(prefix: string) {
  return {
    /** Sorted set of `role:instance`, scored by when its snapshot goes stale. */
    index: `${prefix}:metrics:instances`,
    snapshot: (member: string) => `${prefix}:metrics:snapshot:${member}`,
  };
}

/**
 * One process's own Prometheus metrics: its runtime (prefixed with the role)
 * and the counters its pipeline stages keep (declared where they are
 * counted, through `counter` and `histogram`). Every series carries the
 * process's `instance` (host:pid).
 *
 * Workers and agents serve no HTTP, so each publishes a snapshot to the
 * control-plane Redis every 5 s; the web role's /metrics merges the live
 * ones, so one scrape covers the service. A process that dies drops out
 * within 15 s; one that stops cleanly withdraws at once. Counters start at
 * zero in each process, as Prometheus expects of a restarted target.
 */
export class RoleMetrics {
  readonly registry = new Registry();
  readonly instance: string;
  private readonly counters = new Map<string, Counter<string>>();
  private readonly histograms = new Map<string, Histogram<string>>();
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private publishing?: { connection: Redis; prefix: string; log: Logger; member: string };

  constructor(readonly role: PublishingRole | "test", options: { instance?: string; runtime?: boolean } = {}) {
    this.instance = options.instance ?? `${hostname()}:${process.pid}`;
    this.registry.setDefaultLabels({ instance: this.instance });
    if (options.runtime ?? true) collectRuntimeMetrics(this.registry, `pulseboard_${role}_`);
  }

  /** A counter of this process, made on first use (stages share one by name). */
  counter(name: string, help: string, labelNames: string[]): Counter<string> {
    let counter = this.counters.get(name);
    if (!counter) this.counters.set(name, (counter = new Counter({ name, help, labelNames, registers: [this.registry] })));
    return counter;
  }

  /** A histogram in seconds of this process, made on first use. */
  histogram(name: string, help: string, labelNames: string[]): Histogram<string> {
    let histogram = this.histograms.get(name);
    if (!histogram) this.histograms.set(name, (histogram = new Histogram({ name, help, labelNames, buckets: SECONDS_BUCKETS, registers: [this.registry] })));
    return histogram;
  }

  /** Counts a BullMQ worker's finished jobs by result, and times them from start to finish. */
  observe(worker: Worker, queue: string): void {
    const jobs = this.counter("pulseboard_jobs_total", "Pipeline jobs this process finished, by queue and result (a failed job may be retried)", ["queue", "result"]);
    const seconds = this.histogram("pulseboard_job_duration_seconds", "Time from a job's start to its end in this process", ["queue"]);
    const done = (result: string, job?: { processedOn?: number; finishedOn?: number }) => {
      jobs.inc({ queue, result });
      if (job?.processedOn && job.finishedOn) seconds.observe({ queue }, Math.max(0, job.finishedOn - job.processedOn) / 1000);
    };
    jobs.inc({ queue, result: "completed" }, 0);
    jobs.inc({ queue, result: "failed" }, 0);
    worker.on("completed", (job) => done("completed", job));
    worker.on("failed", (job) => done("failed", job));
  }

  /** Starts publishing a snapshot every 5 s to the control-plane Redis (a `command` connection). */
  publish(connection: Redis, prefix: string, log: Logger): void {
    this.publishing = { connection, prefix, log: log.child({ module: "pipeline.metrics" }), member: `${this.role}:${this.instance}` };
    const tick = () => {
      // One snapshot at a time: while Redis is away, snapshots are skipped rather than queued.
      this.inFlight ??= this.publishOnce()
        .catch((err: unknown) => this.publishing?.log.debug({ err: describeError(err) }, "cannot publish metrics; next try in 5 s"))
        .finally(() => (this.inFlight = undefined));
      this.timer = setTimeout(tick, PUBLISH_MS);
      this.timer.unref();
    };
    tick();
  }

  /** Publishes a snapshot now (also what the timer does). */
  async publishOnce(): Promise<void> {
    if (!this.publishing) return;
    const { connection, prefix, member } = this.publishing;
    const keys = keysOf(prefix);
    const snapshot = JSON.stringify(await this.registry.getMetricsAsJSON());
    await connection.multi().set(keys.snapshot(member), snapshot, "PX", STALE_MS).zadd(keys.index, Date.now() + STALE_MS, member).exec();
  }

  /** Stops publishing and withdraws the snapshot, so /metrics stops showing this process at once. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    const publishing = this.publishing;
    this.publishing = undefined;
    if (!publishing) return;
    const keys = keysOf(publishing.prefix);
    await publishing.connection.multi().del(keys.snapshot(publishing.member)).zrem(keys.index, publishing.member).exec().catch(() => {});
  }
}

/** The live processes' published metrics, merged, with how many instances of each role published. */
export async function readPublishedMetrics(connection: Redis, prefix: string): Promise<{ registry: Registry; instances: Map<string, number> }> {
  const keys = keysOf(prefix);
  await connection.zremrangebyscore(keys.index, "-inf", Date.now());
  const members = await connection.zrange(keys.index, 0, -1);
  const snapshots = members.length > 0 ? await connection.mget(...members.map((m) => keys.snapshot(m))) : [];
  const instances = new Map<string, number>();
  const parsed: Metrics[] = [];
  snapshots.forEach((text, i) => {
    if (!text) return;
    try {
      parsed.push(JSON.parse(text) as Metrics);
      const member = members[i] ?? "";
      const role = member.slice(0, member.indexOf(":"));
      instances.set(role, (instances.get(role) ?? 0) + 1);
    } catch {
      // A snapshot cut short cannot be read; its process publishes again within 5 s.
    }
  });
  return { registry: parsed.length > 0 ? (AggregatorRegistry.aggregate(parsed) as unknown as Registry) : new Registry(), instances };
}
