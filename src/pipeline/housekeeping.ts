import cron from "node-cron";
import { describeError, type Logger } from "../core/index.ts";
import { refreshEffective, type StatusContext } from "../status/index.ts";

/**
 * The scheduler's clockwork (node-cron, UTC): every minute, what customers see
 * is recomputed from the truth (so a change missed by a crash is caught up);
 * every hour, history past its retention is deleted.
 */
export function startHousekeeping(status: StatusContext, log: Logger): { stop(): void } {
  const logger = log.child({ module: "pipeline.housekeeping" });
  const guard = (name: string, work: () => Promise<unknown>) => async () => {
    try {
      await work();
    } catch (err) {
      logger.warn({ task: name, err: describeError(err) }, "housekeeping task failed; it runs again on its next tick");
    }
  };
  const tasks = [
    cron.schedule("* * * * *", guard("reconcile", () => refreshEffective(status)), { name: "reconcile-effective", timezone: "UTC", noOverlap: true }),
    cron.schedule(
      "17 * * * *",
      guard("retention", async () => {
        const deleted = await status.store.sweepRetention();
        if (deleted > 0) logger.info({ deleted }, "history past its retention deleted");
      }),
      { name: "retention", timezone: "UTC", noOverlap: true },
    ),
  ];
  return {
    stop() {
      for (const task of tasks) void task.destroy();
    },
  };
}
