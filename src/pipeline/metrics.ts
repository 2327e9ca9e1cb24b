import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import { Gauge, Registry } from "prom-client";
import { collectRuntimeMetrics } from "./runtime-metrics.ts";
import type { Config } from "../config/index.ts";
import type { StatusContext } from "../status/index.ts";
import type { NotificationControl } from "./notification-control.ts";
import type { PlaybookControl } from "./playbook-control.ts";
import { bullPrefix, probeQueue, QUEUE } from "./queues.ts";
import { readPublishedMetrics } from "./role-metrics.ts";

const STATUS_VALUE: Record<string, number> = { operational: 0, degraded_performance: 1, partial_outage: 2, major_outage: 3, under_maintenance: 4 };
const JOB_STATES = ["waiting", "active", "delayed", "prioritized", "failed"] as const;

/**
 * The whole service's state in the Prometheus text format, read from the
 * control plane at each scrape (any web replica answers the same): component
 * status, open incidents, each probe's last result, queue depths and the age
 * of their oldest waiting job, playbook runs, dead-lettered posts; the
 * counters and runtime of every live worker, agent and scheduler process
 * (published through Redis, labelled by instance); plus this web process's
 * own runtime. Gateway connections are on the gateway's /metrics.
 */
export class ClusterMetrics {
  private readonly queues = new Map<string, Queue>();
  private readonly process = new Registry();

  constructor(
    private readonly options: {
      config: () => Config;
      connection: Redis;
      status: StatusContext;
      playbooks?: PlaybookControl;
      notifications?: NotificationControl;
    },
  ) {
    collectRuntimeMetrics(this.process, "pulseboard_web_");
  }

  get contentType(): string {
    return this.process.contentType;
  }

  async text(): Promise<string> {
    const config = this.options.config();
    const registry = new Registry();
    const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });

    const components = gauge("pulseboard_component_status", "Component status: 0 operational, 1 degraded performance, 2 partial outage, 3 major outage, 4 under maintenance", ["component"]);
    const states = await this.options.status.store.components();
    for (const c of config.components) components.set({ component: c.id }, STATUS_VALUE[states.get(c.id)?.status ?? "operational"] ?? 0);

    const open = gauge("pulseboard_incidents_open", "Unresolved incidents by impact", ["impact"]);
    for (const impact of ["none", "minor", "major", "critical", "maintenance"]) open.set({ impact }, 0);
    for (const incident of await this.options.status.store.unresolvedIncidents()) open.inc({ impact: incident.impact });
    // Drafts (incidents.publish: review) are not public, so not above; one waiting long means nobody is reviewing.
    const drafts = gauge("pulseboard_incident_drafts_awaiting_review", "Automatic incidents waiting for a person to publish them (incidents.publish: review)");
    drafts.set((await this.options.status.store.draftsAwaitingReview()).length);

    const up = gauge("pulseboard_probe_up", "1 when the probe's last result at the location was ok, 0.5 degraded, 0 failed", ["probe", "location"]);
    const latency = gauge("pulseboard_probe_latency_seconds", "The probe's last result's latency", ["probe", "location"]);
    const age = gauge("pulseboard_probe_result_age_seconds", "Seconds since the probe's last result at the location", ["probe", "location"]);
    await Promise.all(
      config.probes
        .filter((p) => p.enabled)
        .map(async (probe) => {
          for (const [location, result] of await this.options.status.store.lastResults(probe.id, probe.locations)) {
            up.set({ probe: probe.id, location }, result.status === "ok" ? 1 : result.status === "degraded" ? 0.5 : 0);
            latency.set({ probe: probe.id, location }, result.latency_ms / 1000);
            age.set({ probe: probe.id, location }, Math.max(0, (Date.now() - Date.parse(result.finished_at)) / 1000));
          }
        }),
    );

    const jobs = gauge("pulseboard_queue_jobs", "Jobs in each pipeline queue by state", ["queue", "state"]);
    const oldest = gauge("pulseboard_queue_oldest_waiting_seconds", "Age of the oldest job waiting in each queue", ["queue"]);
    const names = [...Object.values(QUEUE), ...config.locations.map((l) => probeQueue(l.id))];
    await Promise.all(
      names.map(async (name) => {
        const queue = this.queue(name, config);
        const counts = await queue.getJobCounts(...JOB_STATES);
        for (const state of JOB_STATES) jobs.set({ queue: name, state }, counts[state] ?? 0);
        const [first] = await queue.getJobs(["waiting"], 0, 0, true);
        oldest.set({ queue: name }, first ? Math.max(0, (Date.now() - first.timestamp) / 1000) : 0);
      }),
    );

    if (this.options.playbooks) {
      const runs = gauge("pulseboard_playbook_runs", "The 200 most recent playbook runs by playbook, kind and state", ["playbook", "kind", "state"]);
      for (const run of await this.options.playbooks.runs({ limit: 200 })) runs.inc({ playbook: run.playbook, kind: run.kind, state: run.state });
    }
    if (this.options.notifications) {
      gauge("pulseboard_notifications_dead_letters", "Posts that gave up after their retries and wait for a person").set((await this.options.notifications.deadLetters(10_000)).length);
    }
    const published = await readPublishedMetrics(this.options.connection, config.redis.prefix);
    const instances = gauge("pulseboard_instances", "Processes of each role publishing their metrics (web counts only the one answering)", ["role"]);
    for (const role of ["web", "worker", "agent", "scheduler"]) instances.set({ role }, role === "web" ? 1 : (published.instances.get(role) ?? 0));
    return Registry.merge([registry, published.registry, this.process]).metrics();
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }

  private queue(name: string, config: Config): Queue {
    let queue = this.queues.get(name);
    if (!queue) this.queues.set(name, (queue = new Queue(name, { connection: this.options.connection, prefix: bullPrefix(config.redis.prefix) })));
    return queue;
  }
}
