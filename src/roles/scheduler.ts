import type { Config } from "../config/index.ts";
import { closeRedis, connectRedis, describeError } from "../core/index.ts";
import { RoleMetrics, startHousekeeping, startMaintenanceClock, syncSchedules, watchConnection } from "../pipeline/index.ts";
import { StatusStore, type StatusContext } from "../status/index.ts";
import { announceReady, controlPlaneRedis, type Role, type RoleContext } from "./context.ts";

/** How often the schedules are re-checked against the config (self-healing). */
const RESYNC_MS = 60_000;
/** How soon a failed sync (Redis unreachable) is tried again. */
const RETRY_MS = 2_000;

/**
 * The scheduler role: keeps the BullMQ job schedulers in line with the config
 * (also as it is edited), runs maintenance windows on time, and runs the
 * housekeeping clock.
 */
export async function runScheduler({ config, log, watcher }: RoleContext): Promise<Role> {
  const target = controlPlaneRedis(config, "scheduler");
  const connection = connectRedis(target, { profile: "command", name: "scheduler", log });
  const status: StatusContext = { store: new StatusStore(connection, config.redis.prefix, { log }), components: config.components, publish: config.incidents.publish };
  let current: Config = config;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const sync = async (): Promise<void> => {
    clearTimeout(timer);
    let next = RESYNC_MS;
    try {
      await syncSchedules(current, connection, log);
    } catch (err) {
      log.warn({ err: describeError(err) }, "cannot sync probe schedules yet; retrying");
      next = RETRY_MS;
    }
    if (!stopped) timer = setTimeout(() => void sync(), next);
  };
  watcher.onChange((next) => {
    current = next;
    status.components = next.components;
    status.publish = next.incidents.publish;
    void sync();
  });
  await sync();
  const housekeeping = startHousekeeping(status, log);
  const maintenance = startMaintenanceClock({ config: () => current, status, connection, log });
  const metrics = new RoleMetrics("scheduler");
  metrics.publish(connection, config.redis.prefix, log);
  // Its work (schedules, maintenance clock, housekeeping) all runs on this one connection, and each retries on its own:
  // what none survives is the connection going silent while ioredis calls it ready.
  const watchdog = watchConnection(connection, { name: "scheduler", log, metrics });
  announceReady("scheduler");
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      watcher.stop();
      watchdog.stop();
      await metrics.close();
      housekeeping.stop();
      await maintenance.stop();
      await closeRedis(connection);
    },
  };
}
