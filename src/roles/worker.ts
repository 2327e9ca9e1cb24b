import type { Config } from "../config/index.ts";
import { closeRedis, connectRedis } from "../core/index.ts";
import { channelKinds } from "../notify/index.ts";
import { startEvaluator, startIncidentWorker, startNotifyWorker, startOutboxDispatcher } from "../pipeline/index.ts";
import { StatusStore, type StatusContext } from "../status/index.ts";
import { announceReady, controlPlaneUrl, type Role, type RoleContext } from "./context.ts";

/**
 * The worker role: evaluates results, runs the incident lifecycle, turns
 * timeline entries into posts and delivers them to on-call channels.
 */
export async function runWorker({ config, log, watcher }: RoleContext): Promise<Role> {
  const url = controlPlaneUrl(config, "worker");
  const connection = connectRedis(url, { profile: "blocking", name: "worker-queues", log });
  const redis = connectRedis(url, { profile: "command", name: "worker-store", log });
  const status: StatusContext = { store: new StatusStore(redis, config.redis.prefix), components: config.components };
  let current: Config = config;
  const evaluator = startEvaluator({ config, status, connection, log });
  const incidents = startIncidentWorker({ config, status, connection, log });
  const outbox = startOutboxDispatcher({ config: () => current, status, url, connection: redis, log });
  const notify = startNotifyWorker({ config: () => current, status, connection, notifier: (kind) => channelKinds.get(kind), log });
  watcher.onChange((next) => {
    current = next;
    status.components = next.components;
    evaluator.update(next);
    incidents.update(next);
  });
  log.info({ channels: config.notifications.channels.length }, "worker consuming evaluate, incidents and notify queues");
  announceReady("worker");
  return {
    async stop() {
      watcher.stop();
      await Promise.all([evaluator.close(), incidents.close(), outbox.close(), notify.close()]);
      await Promise.all([closeRedis(connection), closeRedis(redis)]);
    },
  };
}
