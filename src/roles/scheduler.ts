import { closeRedis, connectRedis, describeError } from "../core/index.ts";
import { syncSchedules } from "../pipeline/index.ts";
import { announceReady, controlPlaneUrl, type Role, type RoleContext } from "./context.ts";

/** How often the schedules are re-checked against the config (self-healing). */
const RESYNC_MS = 60_000;
/** How soon a failed sync (Redis unreachable) is tried again. */
const RETRY_MS = 2_000;

/** The scheduler role: keeps the BullMQ job schedulers in line with config. */
export async function runScheduler({ config, log }: RoleContext): Promise<Role> {
  const url = controlPlaneUrl(config, "scheduler");
  const connection = connectRedis(url, { profile: "command", name: "scheduler", log });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const sync = async (): Promise<void> => {
    let next = RESYNC_MS;
    try {
      await syncSchedules(config, connection, log);
    } catch (err) {
      log.warn({ err: describeError(err) }, "cannot sync probe schedules yet; retrying");
      next = RETRY_MS;
    }
    if (!stopped) timer = setTimeout(() => void sync(), next);
  };
  await sync();
  announceReady("scheduler");
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await closeRedis(connection);
    },
  };
}
