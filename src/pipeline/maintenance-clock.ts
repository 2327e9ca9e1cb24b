import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import cron from "node-cron";
import type { Config, MaintenanceConfig } from "../config/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import { advanceMaintenances, remindMaintenances, reminderLeadMs, scheduleMaintenance, type Author, type StatusContext } from "../status/index.ts";
import { TRANSITION_JOB } from "./evaluate.ts";
import { bullPrefix, QUEUE, type IncidentJob } from "./queues.ts";

/** How far ahead recurring windows are put on the page. */
const LOOKAHEAD_MS = 7 * 86_400_000;
const TICK_MS = 5_000;
/** Never sooner than this, so a boundary a few ms away does not spin. */
const MIN_TICK_MS = 20;
const CONFIG: Author = { kind: "automatic", name: "pulseboard.yaml" };

/**
 * Puts the maintenance windows of pulseboard.yaml on the calendar (one-off
 * windows as written, recurring ones up to a week ahead), writes each
 * window's reminder when it is due, starts and completes every window on
 * time (the status verbs announce the start and completion in the same
 * write), and asks the incident worker to look again at a window's
 * components when it ends. Keyed writes make it safe to run in any number of
 * schedulers: each reminder and each notice is written once.
 */
export function startMaintenanceClock(options: { config: () => Config; status: StatusContext; connection: Redis; log: Logger }): { tick(now?: number): Promise<void>; stop(): Promise<void> } {
  const log = options.log.child({ module: "pipeline.maintenance" });
  const queue = new Queue<IncidentJob>(QUEUE.incidents, { connection: options.connection, prefix: bullPrefix(options.config().redis.prefix) });

  async function tick(now = Date.now()): Promise<void> {
    for (const window of options.config().maintenance) {
      for (const start of occurrences(window, now)) {
        const { created } = await scheduleMaintenance(options.status, {
          key: `config:${window.id}:${start.toISOString()}`,
          name: window.name,
          components: window.components,
          scheduled_for: start.toISOString(),
          scheduled_until: new Date(start.getTime() + windowLength(window)).toISOString(),
          body: window.message,
          source: "config",
          author: CONFIG,
          remind_before_minutes: window.remind_before / 60_000,
          notify: window.notify,
        });
        if (created) log.info({ maintenance: window.id, starts: start.toISOString() }, "maintenance window scheduled");
      }
    }
    // Reminders first: one due now goes out before the window's start (the reminder's write checks it has not started).
    for (const reminded of await remindMaintenances(options.status, now)) {
      log.info({ maintenance: reminded.id, starts: reminded.scheduled_for }, "maintenance reminder written");
    }
    for (const changed of await advanceMaintenances(options.status, now)) {
      log.info({ maintenance: changed.id, status: changed.status }, `maintenance ${changed.status === "in_progress" ? "started" : "completed"}`);
      if (changed.status !== "completed") continue;
      for (const component of changed.components) {
        await queue.add("recheck", { recheck: { component, at: changed.updated_at } }, { ...TRANSITION_JOB, jobId: `recheck.${changed.id}.${component}` });
      }
    }
  }

  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        await tick();
      } catch (err) {
        log.warn({ err: describeError(err) }, "maintenance clock tick failed; trying again");
      }
      const wait = await untilNextTick().catch(() => TICK_MS);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();

  /** The usual interval, or less when a window on the calendar starts or ends sooner: windows start and end on time, short ones included. */
  async function untilNextTick(now = Date.now()): Promise<number> {
    let wait = TICK_MS;
    for (const m of await options.status.store.openMaintenances()) {
      const boundaries = m.status === "scheduled" ? [m.scheduled_for, m.scheduled_until] : [m.scheduled_until];
      // A reminder's moment is a boundary too (a lead of 0 adds the start again).
      const reminder = m.status === "scheduled" ? [Date.parse(m.scheduled_for) - reminderLeadMs(m)] : [];
      for (const at of [...boundaries.map(Date.parse), ...reminder]) if (at > now) wait = Math.min(wait, at - now);
    }
    return Math.max(wait, MIN_TICK_MS);
  }

  return {
    tick,
    async stop() {
      running = false;
      await loop;
      await queue.close();
    },
  };
}

/** Starts of a window worth having on the calendar now: a one-off window, or a recurring one's next starts within the lookahead. */
function occurrences(window: MaintenanceConfig, now: number): Date[] {
  if (window.starts_at && window.ends_at) return Date.parse(window.ends_at) > now ? [new Date(window.starts_at)] : [];
  if (!window.cron) return [];
  const task = cron.createTask(window.cron, () => {}, { timezone: window.timezone });
  try {
    return task.getNextRuns(3).filter((d) => d.getTime() - now < LOOKAHEAD_MS);
  } finally {
    void task.destroy();
  }
}

function windowLength(window: MaintenanceConfig): number {
  return window.duration ?? Date.parse(window.ends_at!) - Date.parse(window.starts_at!);
}
