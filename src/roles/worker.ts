import type { Config } from "../config/index.ts";
import { closeRedis, connectRedis, describeError } from "../core/index.ts";
import { createFleetDriver } from "../fleet/index.ts";
import { startHeartbeatChecker } from "../heartbeat/index.ts";
import { channelKinds } from "../notify/index.ts";
import { RoleMetrics, startEvaluator, startIncidentWorker, startNotifyWorker, startOutboxDispatcher, startLocationSilenceCheck, startPlaybookWorker, watchConnection, type PlaybookWorker } from "../pipeline/index.ts";
import { StatusStore, type StatusContext } from "../status/index.ts";
import { SubscriberStore, startSubscriberDelivery, startSubscriberDispatcher } from "../subscriptions/index.ts";
import { StatuspageMapper } from "../status/index.ts";
import { announceReady, controlPlaneRedis, type Role, type RoleContext } from "./context.ts";

/**
 * The worker role: evaluates results, runs the incident lifecycle, turns
 * timeline entries into posts and delivers them to on-call channels and to
 * status-page subscribers, and runs playbooks against the gateway fleet.
 */
export async function runWorker({ config, log, watcher, env }: RoleContext): Promise<Role> {
  const target = controlPlaneRedis(config, "worker");
  const connection = connectRedis(target, { profile: "blocking", name: "worker-queues", log });
  const redis = connectRedis(target, { profile: "command", name: "worker-store", log });
  const status: StatusContext = { store: new StatusStore(redis, config.redis.prefix, { log }), components: config.components, publish: config.incidents.publish };
  let current: Config = config;
  const metrics = new RoleMetrics("worker");
  const evaluator = startEvaluator({ config, status, connection, log, metrics });
  const incidents = startIncidentWorker({ config, status, connection, log, metrics });
  const outbox = startOutboxDispatcher({ config: () => current, status, connection: redis, log });
  const notify = startNotifyWorker({ config: () => current, status, connection, notifier: (kind) => channelKinds.get(kind), log, metrics });
  // Status-page subscribers: their own consumer group on the outboxes, their own queue.
  const subscribers = { config: () => current, status, store: new SubscriberStore(redis, config.redis.prefix, { log }), shapes: new StatuspageMapper(config), log };
  const subscriberDispatch = startSubscriberDispatcher({ ...subscribers, connection: redis });
  const subscriberDelivery = startSubscriberDelivery({ ...subscribers, connection, metrics });
  const playbooks = startPlaybooks({ config, status, connection, redis, log, metrics }, env);
  const heartbeats = startHeartbeatChecker({ config: () => current, redis, log, paused: () => status.store.pausedProbes() });
  const locationSilence = startLocationSilenceCheck({ config: () => current, connection: redis, log });
  metrics.publish(redis, config.redis.prefix, log);
  // Each BullMQ worker watches its own queue and connections; the store connection its jobs write through is watched here.
  const storeWatchdog = watchConnection(redis, { name: "worker-store", log, metrics });
  watcher.onChange((next) => {
    current = next;
    status.components = next.components;
    status.publish = next.incidents.publish;
    evaluator.update(next);
    incidents.update(next);
    playbooks?.update(next);
  });
  log.info({ channels: config.notifications.channels.length }, "worker consuming evaluate, incidents and notify queues");
  announceReady("worker");
  return {
    async stop() {
      watcher.stop();
      storeWatchdog.stop();
      await metrics.close();
      await heartbeats.close();
      await Promise.all([evaluator.close(), incidents.close(), outbox.close(), notify.close(), subscriberDispatch.close(), subscriberDelivery.close(), playbooks?.close(), locationSilence.close()]);
      await Promise.all([closeRedis(connection), closeRedis(redis)]);
    },
  };
}

/**
 * The playbook worker, with the fleet driver `fleet:` names. A driver that
 * cannot be created leaves the rest of the worker running (incidents and
 * notifications must not share the fate of the automation) and says why.
 */
function startPlaybooks(options: Omit<Parameters<typeof startPlaybookWorker>[0], "fleet">, env: NodeJS.ProcessEnv): PlaybookWorker | undefined {
  try {
    const fleet = createFleetDriver(options.config, options.log, env);
    return startPlaybookWorker({ ...options, fleet });
  } catch (err) {
    options.log.error({ err: describeError(err) }, "playbooks are off: the fleet driver cannot be created");
    return undefined;
  }
}
