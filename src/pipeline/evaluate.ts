import { Queue, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Config, ResolvedProbe } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import {
  setComponentStatus,
  severityOf,
  type ComponentStatus,
  type ProbeLocationState,
  type StatusContext,
} from "../status/index.ts";
import { componentStatusFor, nextLocationState, probeState } from "./evaluation.ts";
import { bullPrefix, QUEUE, type EvaluateJob, type IncidentJob } from "./queues.ts";

export interface EvaluatorOptions {
  config: Config;
  status: StatusContext;
  connection: Redis;
  log: Logger;
}

/**
 * Consumes probe results: stores each one, moves its location's state
 * through the hysteresis, recomputes the components the probe feeds and
 * queues an incident job for every component whose status changed.
 *
 * One result at a time (concurrency 1), so two results of one probe never
 * race on its state. Every write is keyed by the result, so a retried job
 * changes nothing twice.
 */
export function startEvaluator(options: EvaluatorOptions): { update(config: Config): void; close(): Promise<void> } {
  const { status, connection } = options;
  let config = options.config;
  const log = options.log.child({ module: "pipeline.evaluate" });
  const prefix = bullPrefix(config.redis.prefix);
  let probes = new Map(config.probes.map((p) => [p.id, p]));
  const incidents = new Queue<IncidentJob>(QUEUE.incidents, { connection, prefix });

  async function evaluate(job: Job<EvaluateJob>): Promise<{ changed: string[] }> {
    const { result } = job.data;
    const probe = probes.get(result.probe);
    if (!probe) return { changed: [] };
    const states = await status.store.probeStates(probe.id);
    const previous = states.get(result.location);
    if (previous?.last_result_id !== result.id) {
      const next = nextLocationState(probe, previous, result);
      await status.store.recordResult(result);
      await status.store.setProbeState(probe.id, result.location, next);
      states.set(result.location, next);
    }
    const changed: string[] = [];
    const current = await status.store.components();
    for (const componentId of probe.components) {
      const { status: computed, reason } = await componentVerdict(componentId, probe.id, states);
      const known = current.get(componentId);
      const from = known?.status ?? "operational";
      if (known && from === computed) continue;
      if (from !== computed) {
        const transition = { component: componentId, from, to: computed, at: result.finished_at, reason };
        await incidents.add("transition", { transition }, {
          jobId: `${componentId}.${result.id}`,
          attempts: 10,
          backoff: { type: "exponential", delay: 500 },
          removeOnComplete: { age: 24 * 3_600, count: 10_000 },
          removeOnFail: 10_000,
        });
        changed.push(componentId);
        log.info({ component: componentId, from, to: computed, reason }, "component status changed");
      }
      await setComponentStatus(status, { id: componentId, status: computed, reason, at: result.finished_at });
    }
    return { changed };
  }

  /** The worst status any probe of the component gives it, with the reason. */
  async function componentVerdict(
    componentId: string,
    evaluatedProbe: string,
    evaluatedStates: Map<string, ProbeLocationState>,
  ): Promise<{ status: ComponentStatus; reason?: string }> {
    let worst: { status: ComponentStatus; probe?: ResolvedProbe; states?: Map<string, ProbeLocationState> } = { status: "operational" };
    for (const probe of config.probes) {
      if (!probe.enabled || !probe.components.includes(componentId)) continue;
      const states = probe.id === evaluatedProbe ? evaluatedStates : await status.store.probeStates(probe.id);
      const verdict = componentStatusFor(probe, probeState(probe, states));
      if (severityOf(verdict) > severityOf(worst.status)) worst = { status: verdict, probe, states };
    }
    if (!worst.probe || !worst.states) return { status: worst.status };
    return { status: worst.status, reason: await describeFailure(worst.probe, worst.states) };
  }

  /** "gateway-connect failed from local: connect: connection refused by …" */
  async function describeFailure(probe: ResolvedProbe, states: Map<string, ProbeLocationState>): Promise<string> {
    const bad = probe.locations.filter((l) => (states.get(l)?.state ?? "up") !== "up");
    const results = await status.store.lastResults(probe.id, bad);
    const errors = [...results.values()].map((r: ProbeResult) => r.error).filter(Boolean);
    const verb = bad.some((l) => states.get(l)?.state === "down") ? "failed" : "is slow";
    const sample = errors[0] ? `: ${errors[0]}` : "";
    return `${probe.name} ${verb} from ${bad.join(", ")}${sample}`;
  }

  const worker = new Worker<EvaluateJob>(QUEUE.evaluate, evaluate, { connection, prefix, concurrency: 1 });
  worker.on("error", (err) => log.warn({ err: err.message }, "evaluate worker error"));
  worker.on("failed", (job, err) => log.warn({ job: job?.id, err: err.message }, "evaluating a result failed; will retry"));
  return {
    update(next) {
      config = next;
      probes = new Map(next.probes.map((p) => [p.id, p]));
    },
    async close() {
      await worker.close();
      await incidents.close();
    },
  };
}
