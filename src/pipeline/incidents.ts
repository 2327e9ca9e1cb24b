import { Queue, Worker, type Job } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { formatDuration } from "../config/index.ts";
import { ConflictError, type Logger } from "../core/index.ts";
import {
  appendUpdate,
  componentsInMaintenance,
  isUnresolved,
  openIncident,
  publicText,
  resolveIncident,
  type Author,
  type ComponentStatus,
  type ComponentTransition,
  type Incident,
  type StatusContext,
} from "../status/index.ts";
import { bullPrefix, QUEUE, WORKER_LOCK, type IncidentJob, type PlaybookJob } from "./queues.ts";
import { affectedNow } from "./public-effects.ts";
import { publishDraft } from "./publish-draft.ts";
import { RoleMetrics } from "./role-metrics.ts";
import { watchWorker } from "./worker-watchdog.ts";

const PULSEBOARD: Author = { kind: "automatic", name: "Pulseboard" };

const LABEL: Record<ComponentStatus, string> = {
  operational: "operational",
  under_maintenance: "under maintenance",
  degraded_performance: "degraded performance",
  partial_outage: "partial outage",
  major_outage: "major outage",
};

export interface IncidentWorkerOptions {
  config: Config;
  status: StatusContext;
  connection: Redis;
  log: Logger;
  /** Where incident events are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
}

/**
 * The automatic incident's lifecycle. The first component to leave
 * `operational` opens it; others that fail meanwhile join it (one incident,
 * not one per probe); when all have recovered it goes to `monitoring`, and
 * resolves after a quiet period, unless a relapse reopens it first.
 * Components in a maintenance window are held: nothing is opened for them
 * until the window ends. Each job's id is its idempotency key, so a retry
 * never writes a second timeline entry. Jobs run one at a time across all
 * worker replicas (the queue's global concurrency), so replicas never race
 * on which incident is the automatic one.
 */
export function startIncidentWorker(options: IncidentWorkerOptions): { update(config: Config): void; close(): Promise<void> } {
  const { status, connection } = options;
  let config = options.config;
  const log = options.log.child({ module: "pipeline.incidents" });
  const prefix = bullPrefix(config.redis.prefix);
  const queue = new Queue<IncidentJob>(QUEUE.incidents, { connection, prefix });
  const playbooks = new Queue<PlaybookJob>(QUEUE.playbooks, { connection, prefix });
  const metrics = options.metrics ?? new RoleMetrics("worker", { runtime: false });
  const events = metrics.counter("pulseboard_incident_events_total", "Automatic incident events: opened, updated, relapse, monitoring, resolved, held (a change during maintenance), published (a draft its review timeout published)", ["event"]);
  const nameOf = (id: string): string => status.components.find((c) => c.id === id)?.name ?? id;

  async function activeAutomaticIncident(): Promise<Incident | undefined> {
    const id = await status.store.automaticIncidentId();
    const incident = id ? await status.store.incident(id) : undefined;
    return incident && isUnresolved(incident) ? incident : undefined;
  }

  async function inMaintenance(component: string): Promise<boolean> {
    return componentsInMaintenance(await status.store.openMaintenances()).has(component);
  }

  async function onTransition(transition: ComponentTransition, key: string): Promise<{ incident?: string; held?: string }> {
    if (await inMaintenance(transition.component)) {
      events.inc({ event: "held" });
      log.info({ component: transition.component, to: transition.to }, "status change held: the component is in a maintenance window");
      return { held: "maintenance" };
    }
    const name = nameOf(transition.component);
    const active = await activeAutomaticIncident();
    const components = { [transition.component]: transition.to };

    if (transition.to !== "operational") {
      // Worker replicas evaluate results side by side, so two results of one component may both report the same change
      // (the second computed from what it read before the first was written): the incident has it already.
      const repeated = transition.from !== transition.to && transition.from !== "under_maintenance" && active?.components[transition.component] === transition.to;
      if (active && repeated) return { incident: active.id };
      const detail = sentence(`${name}: ${LABEL[transition.to]}. ${transition.reason ?? ""}`);
      if (!active) {
        const review = config.incidents.publish === "review";
        const { incident } = await openIncident(status, {
          key,
          name: `${capitalize(LABEL[transition.to])} of ${name}`,
          body: publicText(config, "investigating", await affectedNow(config, status, components)),
          detail: `${detail} We are investigating.`,
          components,
          automatic: true,
          author: PULSEBOARD,
          ...(review ? { draft: { publish_at: new Date(Date.now() + config.incidents.reviewTimeout).toISOString() } } : {}),
        });
        // Also when a retry found it opened already: the job id keeps it to one timer.
        if (incident.draft) await schedulePublish(incident);
        events.inc({ event: "opened" });
        log.info({ incident: incident.id, component: transition.component, draft: incident.draft === true }, incident.draft ? "opened automatic incident as a draft for review" : "opened automatic incident");
        return { incident: incident.id };
      }
      const joins = (active.components[transition.component] ?? "operational") === "operational";
      const allRecovered = Object.values(active.components).every((s) => s === "operational");
      const relapse = active.status === "monitoring" && (allRecovered || joins);
      // The public hears of a component newly affected and of a relapse; a change of how bad it is shows in its status alone.
      const announce = joins || relapse;
      const next = { ...active.components, ...components };
      const unwell = Object.fromEntries(Object.entries(next).filter(([, s]) => s !== "operational"));
      await appendUpdate(status, {
        id: active.id,
        key,
        ...(announce
          ? { body: publicText(config, "investigating", await affectedNow(config, status, unwell)), detail: relapse ? `Relapse: ${detail} We are investigating again.` : detail }
          : { body: detail, internal: true }),
        components,
        author: PULSEBOARD,
        status: announce && active.status !== "investigating" ? "investigating" : undefined,
      });
      events.inc({ event: relapse ? "relapse" : "updated" });
      if (relapse) log.warn({ incident: active.id, component: transition.component }, "relapse: automatic incident reopened");
      return { incident: active.id };
    }

    if (!active || active.components[transition.component] === undefined) return {};
    const stillAffected = Object.entries(active.components)
      .filter(([id, s]) => id !== transition.component && s !== "operational")
      .map(([id]) => nameOf(id));
    if (stillAffected.length > 0) {
      await appendUpdate(status, { id: active.id, key, body: `${name} is operational again. Still affected: ${stillAffected.join(", ")}.`, internal: true, components, author: PULSEBOARD });
      events.inc({ event: "updated" });
      return { incident: active.id };
    }
    const quiet = formatDuration(config.evaluation.quietPeriod);
    const detail = `${name} is operational again, and so is every affected component. This incident resolves after ${quiet} without a relapse.`;
    // Already monitoring when a playbook's verify passed first: the public heard it then.
    const announce = active.status !== "monitoring";
    const all = Object.fromEntries(Object.keys(active.components).map((id) => [id, "operational" as const]));
    const { incident } = await appendUpdate(status, {
      id: active.id,
      key,
      // Whether the public hears it rests on the status read above: a playbook's verify announcing monitoring
      // meanwhile makes this write fail, and the job's retry decides again (said once, not twice).
      as_of_revision: active.revision,
      status: "monitoring",
      ...(announce ? { body: publicText(config, "monitoring", await affectedNow(config, status, all)), detail } : { body: detail, internal: true }),
      components,
      author: PULSEBOARD,
    });
    events.inc({ event: "monitoring" });
    await scheduleQuietCheck(incident, incident.updates.at(-1)!.created_at);
    return { incident: active.id };
  }

  /**
   * Queued once the last affected component has recovered (the job id says
   * when), so a retry schedules nothing twice, and a recovery after a
   * playbook's verify put the incident in monitoring schedules its own.
   */
  async function scheduleQuietCheck(incident: Incident, recoveredAt: string): Promise<void> {
    if (incident.status !== "monitoring" || !incident.monitoring_at) return;
    await queue.add(
      "quiet",
      { quiet: { incident: incident.id, monitoringAt: incident.monitoring_at } },
      { delay: config.evaluation.quietPeriod, jobId: `quiet.${incident.id}.${Date.parse(recoveredAt)}`, attempts: 10, backoff: { type: "exponential", delay: 1_000 }, removeOnComplete: { age: 24 * 3_600 }, removeOnFail: 1_000 },
    );
  }

  async function onQuiet(check: { incident: string; monitoringAt: string }, key: string): Promise<{ incident?: string }> {
    const incident = await status.store.incident(check.incident);
    if (!incident || incident.status !== "monitoring" || incident.monitoring_at !== check.monitoringAt) return {};
    // Monitoring since a verify passed, yet a component is still unwell: its recovery schedules the check again.
    if (Object.values(incident.components).some((s) => s !== "operational")) return {};
    await resolveIncident(status, {
      id: incident.id,
      key,
      body: publicText(config, "resolved", await affectedNow(config, status, incident.components)),
      detail: `No relapse for ${formatDuration(config.evaluation.quietPeriod)}: this incident has been resolved.`,
      author: PULSEBOARD,
    });
    events.inc({ event: "resolved" });
    log.info({ incident: incident.id }, "resolved automatic incident after its quiet period");
    return { incident: incident.id };
  }

  /**
   * The draft's review timeout, as a delayed job in Redis: it outlives the
   * worker that queued it, and its id makes it one however many workers or
   * retries queue it.
   */
  async function schedulePublish(incident: Incident): Promise<void> {
    if (!incident.publish_at) return;
    await queue.add(
      "publish",
      { publish: { incident: incident.id } },
      { delay: Math.max(0, Date.parse(incident.publish_at) - Date.now()), jobId: `publish.${incident.id}`, attempts: 10, backoff: { type: "exponential", delay: 1_000 }, removeOnComplete: { age: 24 * 3_600 }, removeOnFail: 1_000 },
    );
  }

  async function onPublish(check: { incident: string }, key: string): Promise<{ incident?: string; published?: boolean }> {
    const incident = await status.store.incident(check.incident);
    // Published by a person first, or resolved while a draft (which never becomes public).
    if (!incident?.draft || !isUnresolved(incident)) return {};
    try {
      const { written } = await publishDraft(config, status, { id: incident.id, author: PULSEBOARD, automatically: true, key });
      if (written) {
        events.inc({ event: "published" });
        log.warn({ incident: incident.id, after_ms: config.incidents.reviewTimeout }, "nobody reviewed the draft in time: it published itself");
      }
      return { incident: incident.id, published: written };
    } catch (err) {
      // Someone published it between our read and our write: nothing is left to do.
      if (err instanceof ConflictError) return { incident: incident.id, published: false };
      throw err;
    }
  }

  async function onRecheck(check: { component: string; at: string }, key: string): Promise<{ incident?: string; held?: string }> {
    const state = (await status.store.components()).get(check.component);
    if (!state || state.status === "operational") return {};
    return onTransition({ component: check.component, from: "under_maintenance", to: state.status, at: check.at, reason: `Still unwell after its maintenance window: ${state.reason ?? ""}` }, key);
  }

  /** Asks the playbook worker to look at its triggers now, with the incident the change went to (keyed by this job). */
  async function checkPlaybooks(transition: ComponentTransition, incident: string | undefined, jobId: string): Promise<void> {
    if (config.playbooks.length === 0) return;
    await playbooks.add(
      "check",
      { check: { component: transition.component, incident, at: transition.at } },
      { jobId: `check.${jobId}`, attempts: 3, backoff: { type: "exponential", delay: 500 }, removeOnComplete: true, removeOnFail: 100 },
    );
  }

  async function process(job: Job<IncidentJob>): Promise<unknown> {
    const key = `incident-job:${job.id}`;
    const data = job.data;
    if ("transition" in data) {
      const outcome = await onTransition(data.transition, key);
      await checkPlaybooks(data.transition, outcome.incident, String(job.id));
      return outcome;
    }
    if ("quiet" in data) return onQuiet(data.quiet, key);
    if ("publish" in data) return onPublish(data.publish, key);
    return onRecheck(data.recheck, key);
  }

  // One incident job at a time across every worker replica, not only in this process: two transitions taken by two
  // workers at once (one probe feeding two components) would each find no automatic incident and open one each.
  queue.setGlobalConcurrency(1).catch((err: Error) => log.warn({ err: err.message }, "cannot limit the incidents queue to one job at a time across workers"));
  const worker = new Worker<IncidentJob>(QUEUE.incidents, process, { connection, prefix, concurrency: 1, ...WORKER_LOCK });
  worker.on("error", (err) => log.warn({ err: err.message }, "incident worker error"));
  metrics.observe(worker, QUEUE.incidents);
  watchWorker(worker, { log, metrics });
  worker.on("failed", (job, err) => log.warn({ job: job?.id, err: err.message }, "incident job failed; will retry"));
  return {
    update(next) {
      config = next;
    },
    async close() {
      await worker.close();
      await Promise.all([queue.close(), playbooks.close()]);
    },
  };
}

/** Trims and ends the text with a full stop, so generated updates read as sentences. */
function sentence(text: string): string {
  const trimmed = text.trim().replace(/\s+/g, " ");
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
