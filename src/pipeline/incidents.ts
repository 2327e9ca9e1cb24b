import { Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import {
  appendUpdate,
  isUnresolved,
  openIncident,
  type Author,
  type ComponentStatus,
  type Incident,
  type StatusContext,
} from "../status/index.ts";
import { bullPrefix, QUEUE, type IncidentJob } from "./queues.ts";

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
}

/**
 * Turns component transitions into the automatic incident's timeline: the
 * first component to leave `operational` opens it, others join it, and it
 * resolves when every component in it is operational again. Each job's id is
 * its idempotency key, so a retry never writes a second entry.
 */
export function startIncidentWorker(options: IncidentWorkerOptions): { close(): Promise<void> } {
  const { config, status, connection } = options;
  const log = options.log.child({ module: "pipeline.incidents" });
  const nameOf = (id: string): string => status.components.find((c) => c.id === id)?.name ?? id;

  async function activeAutomaticIncident(): Promise<Incident | undefined> {
    const id = await status.store.automaticIncidentId();
    const incident = id ? await status.store.incident(id) : undefined;
    return incident && isUnresolved(incident) ? incident : undefined;
  }

  async function onTransition(job: Job<IncidentJob>): Promise<{ incident?: string }> {
    const { transition } = job.data;
    const key = `incident-job:${job.id}`;
    const name = nameOf(transition.component);
    const active = await activeAutomaticIncident();
    const components = { [transition.component]: transition.to };

    if (transition.to !== "operational") {
      const body = sentence(`${name}: ${LABEL[transition.to]}. ${transition.reason ?? ""}`);
      if (!active) {
        const { incident } = await openIncident(status, {
          key,
          name: `${capitalize(LABEL[transition.to])} of ${name}`,
          body: `${body} We are investigating.`,
          components,
          automatic: true,
          author: PULSEBOARD,
        });
        log.info({ incident: incident.id, component: transition.component }, "opened automatic incident");
        return { incident: incident.id };
      }
      await appendUpdate(status, { id: active.id, key, body, components, author: PULSEBOARD, status: reopenedStatus(active) });
      return { incident: active.id };
    }

    if (!active || active.components[transition.component] === undefined) return {};
    const stillAffected = Object.entries(active.components)
      .filter(([id, s]) => id !== transition.component && s !== "operational")
      .map(([id]) => nameOf(id));
    if (stillAffected.length === 0) {
      await appendUpdate(status, {
        id: active.id,
        key,
        status: "resolved",
        body: `${name} is operational again. All affected components have recovered.`,
        components,
        author: PULSEBOARD,
      });
      log.info({ incident: active.id }, "resolved automatic incident");
    } else {
      await appendUpdate(status, {
        id: active.id,
        key,
        body: `${name} is operational again. Still affected: ${stillAffected.join(", ")}.`,
        components,
        author: PULSEBOARD,
      });
    }
    return { incident: active.id };
  }

  const worker = new Worker<IncidentJob>(QUEUE.incidents, onTransition, {
    connection,
    prefix: bullPrefix(config.redis.prefix),
    concurrency: 1,
  });
  worker.on("error", (err) => log.warn({ err: err.message }, "incident worker error"));
  worker.on("failed", (job, err) => log.warn({ job: job?.id, err: err.message }, "incident job failed; will retry"));
  return { close: () => worker.close() };
}

function reopenedStatus(incident: Incident): "investigating" | undefined {
  return incident.status === "monitoring" ? "investigating" : undefined;
}

/** Trims and ends the text with a full stop, so generated updates read as sentences. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
