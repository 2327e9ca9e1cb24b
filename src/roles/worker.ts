import { closeRedis, connectRedis } from "../core/index.ts";
import { startEvaluator, startIncidentWorker } from "../pipeline/index.ts";
import { StatusStore, type StatusContext } from "../status/index.ts";
import { announceReady, controlPlaneUrl, type Role, type RoleContext } from "./context.ts";

/** The worker role: evaluates results and runs the incident lifecycle. */
export async function runWorker({ config, log, watcher }: RoleContext): Promise<Role> {
  const url = controlPlaneUrl(config, "worker");
  const connection = connectRedis(url, { profile: "blocking", name: "worker-queues", log });
  const redis = connectRedis(url, { profile: "command", name: "worker-store", log });
  const status: StatusContext = { store: new StatusStore(redis, config.redis.prefix), components: config.components };
  const evaluator = startEvaluator({ config, status, connection, log });
  const incidents = startIncidentWorker({ config, status, connection, log });
  watcher.onChange((next) => {
    status.components = next.components;
    evaluator.update(next);
  });
  log.info("worker consuming evaluate and incidents queues");
  announceReady("worker");
  return {
    async stop() {
      watcher.stop();
      await Promise.all([evaluator.close(), incidents.close()]);
      await Promise.all([closeRedis(connection), closeRedis(redis)]);
    },
  };
}
