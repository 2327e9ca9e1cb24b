import { Queue, Worker, type Job } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
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
import { suppressFlaps, type FlapState } from "./flap.ts";
import { LocationReports } from "./location-reports.ts";
import { bullPrefix, QUEUE, WORKER_LOCK, type EvaluateJob, type IncidentJob } from "./queues.ts";
import { RoleMetrics } from "./role-metrics.ts";
import { SharedKeyedLock } from "./shared-lock.ts";
import { watchWorker } from "./worker-watchdog.ts";

export interface EvaluatorOptions {
  config: Config;
  status: StatusContext;
  connection: Redis;
  log: Logger;
  /**
   * Results evaluated at once. Results of one probe, or of probes sharing a
   * component, still go one at a time; this is how many unrelated ones run
   * side by side while each waits on Redis. @defaultValue 16
   */
  concurrency?: number;
  /** Where component changes are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
}

/** Options of the jobs that carry component transitions to the incident worker. */
export const TRANSITION_JOB = {
  attempts: 10,
  backoff: { type: "exponential", delay: 500 },
  removeOnComplete: { age: 24 * 3_600, count: 10_000 },
  removeOnFail: 10_000,
} as const;

/**
 * Consumes probe results: stores each one, moves its location's state
 * through the hysteresis, recomputes the components the probe feeds (worst
 * probe verdict, quorum across locations, flap suppression) and queues an
 * incident job for every component whose status changed. Flags a location
 * whose every probe fails at once.
 *
 * Results of one probe, and of probes that share a component, are evaluated
 * one at a time (in queue order within a process, and across worker replicas
 * through a lock in Redis), so none races on a probe's state or a
 * component's; unrelated results run side by side, up to `concurrency`. Every write is keyed by the result, so a
 * retried job changes nothing twice.
 */
export function startEvaluator(options: EvaluatorOptions): { update(config: Config): void; close(): Promise<void> } {
  const { status, connection } = options;
  let config = options.config;
  const log = options.log.child({ module: "pipeline.evaluate" });
  const prefix = bullPrefix(config.redis.prefix);
  let probes = new Map(config.probes.map((p) => [p.id, p]));
  /** The enabled probes feeding each component: looked up for every result, so kept, not filtered from the config each time. */
  let feedingOf = feedingIndex(config);
  let remoteLocations = new Set(config.locations.filter((l) => l.remote).map((l) => l.id));
  const incidents = new Queue<IncidentJob>(QUEUE.incidents, { connection, prefix });
  // Held across the worker replicas too: two of them evaluating results of one component at once would both report its change.
  const lock = new SharedKeyedLock(connection, `${config.redis.prefix}:evaluate`);
  const reports = new LocationReports(connection, config.redis.prefix);
  const concurrency = options.concurrency ?? 16;
  const metrics = options.metrics ?? new RoleMetrics("worker", { runtime: false });
  const changes = metrics.counter("pulseboard_component_changes_total", "Component status changes the evaluator found, by component and new status", ["component", "status"]);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a whole number of at least 1, got ${concurrency}`);

  function evaluate(job: Job<EvaluateJob>): Promise<{ changed: string[] }> {
    const { result } = job.data;
    const probe = probes.get(result.probe);
    if (!probe) return Promise.resolve({ changed: [] });
    // A result that arrived later than its probe's interval (a remote agent's buffer) is history, not news.
    if (job.data.late) return status.store.recordResult(result, { late: true }).then(() => ({ changed: [] }));
    // Claimed before anything is awaited, so results wait for each other in the order BullMQ handed them out.
    return lock.run([`probe:${probe.id}`, ...probe.components.map((c) => `component:${c}`)], () => evaluateResult(probe, result));
  }

  /** The remote locations that take no part in quorum now: silent, or never heard from. */
  async function leftOutLocations(feeding: ResolvedProbe[]): Promise<Set<string>> {
    if (remoteLocations.size === 0) return new Set();
    const involved = [...new Set(feeding.flatMap((p) => p.locations))].filter((l) => remoteLocations.has(l));
    const states = await reports.states(involved);
    return new Set(involved.filter((l) => states.get(l) !== "reporting"));
  }

  async function evaluateResult(probe: ResolvedProbe, result: ProbeResult): Promise<{ changed: string[] }> {
    // Only this evaluator writes computed component states, and it holds their keys: reading them first is safe.
    const [states, current] = await Promise.all([status.store.probeStates(probe.id), status.store.componentsOf(probe.components)]);
    const previous = states.get(result.location);
    // Started before the result that last moved this state, finished after it (a scheduled run caught in a repair,
    // overlapping the verify's run): what it saw is older than what is known. History only, as a late result.
    if (previous?.last_started_at !== undefined && previous.last_result_id !== result.id && Date.parse(result.started_at) < Date.parse(previous.last_started_at)) {
      await status.store.recordResult(result, { late: true });
      return { changed: [] };
    }
    if (previous?.last_result_id !== result.id) {
      const next = nextLocationState(probe, previous, result);
      await status.store.recordResult(result);
      await status.store.setProbeState(probe.id, result.location, next);
      states.set(result.location, next);
      if (next.state !== previous?.state) await checkLocation(result.location, next.since);
    }
    const changed: string[] = [];
    const now = Date.parse(result.finished_at);
    for (const componentId of probe.components) {
      const [verdict, flapBefore] = await Promise.all([componentVerdict(componentId, probe.id, states), status.store.flapState<FlapState>(componentId)]);
      const flap = suppressFlaps(flapBefore, verdict.status, now, config.evaluation.flapWindow, config.evaluation.flapChanges);
      if (JSON.stringify(flap.state) !== JSON.stringify(flapBefore)) await status.store.setFlapState(componentId, flap.state);
      const computed = flap.status;
      const reason = [flap.note, verdict.reason].filter(Boolean).join(" ") || undefined;
      const known = current.get(componentId);
      const from = known?.status ?? "operational";
      if (known && from === computed && known.reason === reason) continue;
      // A hold that starts on a change for the better leaves the status as it was: the incident must still say so.
      const holdStarts = flap.note !== undefined && flapBefore?.held === undefined;
      if (from !== computed || holdStarts) {
        // The incident's timeline gets the sample latencies too; the component's reason stays stable between runs.
        const detail = [flap.note, verdict.detail].filter(Boolean).join(" ") || undefined;
        const transition = { component: componentId, from, to: computed, at: result.finished_at, reason: detail };
        await incidents.add("transition", { transition }, { ...TRANSITION_JOB, jobId: `${componentId}.${result.id}` });
        if (from !== computed) {
          changes.inc({ component: componentId, status: computed });
          changed.push(componentId);
          log.info({ component: componentId, from, to: computed, reason }, "component status changed");
        } else {
          log.warn({ component: componentId, status: computed, reason }, "component flapping: held at its worse status");
        }
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
  ): Promise<{ status: ComponentStatus; reason?: string; detail?: string }> {
    let worst: { status: ComponentStatus; probe?: ResolvedProbe; states?: Map<string, ProbeLocationState> } = { status: "operational" };
    const feeding = feedingOf.get(componentId) ?? [];
    // The other probes' states in one round trip: a component may have many probes.
    const [others, leftOut] = await Promise.all([status.store.probeStatesOf(feeding.filter((p) => p.id !== evaluatedProbe).map((p) => p.id)), leftOutLocations(feeding)]);
    for (const probe of feeding) {
      const states = probe.id === evaluatedProbe ? evaluatedStates : (others.get(probe.id) ?? new Map<string, ProbeLocationState>());
      const verdict = componentStatusFor(probe, probeState(probe, states, leftOut));
      if (severityOf(verdict) > severityOf(worst.status)) worst = { status: verdict, probe, states };
    }
    if (!worst.probe || !worst.states) return { status: worst.status };
    return { status: worst.status, ...(await describeFailure(worst.probe, worst.states)) };
  }

  /**
   * What failed and where, with a sample error ("Chat publish and echo failed
   * from eu, us: connect: connection refused by …."), and the same with the
   * sample latencies for the incident's timeline ("… (eu: 3 ms, us: 2 ms).").
   */
  async function describeFailure(probe: ResolvedProbe, states: Map<string, ProbeLocationState>): Promise<{ reason: string; detail: string }> {
    const bad = probe.locations.filter((l) => (states.get(l)?.state ?? "up") !== "up");
    const results = await status.store.lastResults(probe.id, bad);
    const samples = [...results.values()] as ProbeResult[];
    const verb = bad.some((l) => states.get(l)?.state === "down") ? "failed" : "is slow";
    const error = samples.find((r) => r.error)?.error;
    const latencies = samples.map((r) => `${r.location}: ${Math.round(r.latency_ms)} ms`).join(", ");
    const reason = `${probe.name} ${verb} from ${bad.join(", ")}${error ? `: ${error}` : ""}`;
    return { reason: `${reason}.`, detail: `${reason}${latencies ? ` (${latencies})` : ""}.` };
  }

  /**
   * A location whose every probe is down at once is flagged: its results may
   * say more about the location (its network) than about the platform.
   */
  function checkLocation(location: string, since: string): Promise<void> {
    // One check per location at a time: the last one reads every state written before it, so the flag ends right.
    return lock.run([`location:${location}`], () => flagLocation(location, since));
  }

  async function flagLocation(location: string, since: string): Promise<void> {
    const here = config.probes.filter((p) => p.enabled && p.locations.includes(location));
    if (here.length < 2) return;
    const states = await status.store.probeStatesOf(here.map((p) => p.id));
    const allDown = here.every((p) => states.get(p.id)?.get(location)?.state === "down");
    const reason = `every probe at ${location} (${here.length}) is failing at once`;
    if (await status.store.setLocationFlag(location, allDown ? { since, reason } : undefined)) {
      if (allDown) log.warn({ location, probes: here.length }, `location flagged: ${reason}; check the location before the platform`);
      else log.info({ location }, "location flag cleared");
    }
  }

  const worker = new Worker<EvaluateJob>(QUEUE.evaluate, evaluate, { connection, prefix, concurrency, ...WORKER_LOCK });
  worker.on("error", (err) => log.warn({ err: err.message }, "evaluate worker error"));
  metrics.observe(worker, QUEUE.evaluate);
  watchWorker(worker, { log, metrics });
  worker.on("failed", (job, err) => log.warn({ job: job?.id, err: err.message }, "evaluating a result failed; will retry"));
  return {
    update(next) {
      config = next;
      probes = new Map(next.probes.map((p) => [p.id, p]));
      feedingOf = feedingIndex(next);
      remoteLocations = new Set(next.locations.filter((l) => l.remote).map((l) => l.id));
    },
    async close() {
      await worker.close();
      await incidents.close();
    },
  };
}

/** Component id → the enabled probes that feed it, in config order. */
function feedingIndex(config: Config): Map<string, ResolvedProbe[]> {
  const index = new Map<string, ResolvedProbe[]>();
  for (const probe of config.probes) {
    if (!probe.enabled) continue;
    for (const component of probe.components) {
      const list = index.get(component);
      if (list) list.push(probe);
      else index.set(component, [probe]);
    }
  }
  return index;
}
