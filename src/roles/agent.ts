import { ConfigError, closeRedis, connectRedis } from "../core/index.ts";
import { RoleMetrics, startAgent } from "../pipeline/index.ts";
import { announceReady, controlPlaneRedis, type Role, type RoleContext } from "./context.ts";

/** The agent role: runs the probes of one location. */
export async function runAgent({ config, registry, log, watcher }: RoleContext, location: string | undefined): Promise<Role> {
  const known = config.locations.map((l) => l.id);
  if (!location) throw new ConfigError([`--location: name the location this agent probes from (configured: ${known.join(", ")})`]);
  if (!known.includes(location)) throw new ConfigError([`--location: no location has the id "${location}" (configured: ${known.join(", ")})`]);
  const target = controlPlaneRedis(config, "agent");
  const connection = connectRedis(target, { profile: "blocking", name: `agent-${location}`, log });
  const metrics = new RoleMetrics("agent");
  const agent = startAgent({ config, registry, location, connection, log, metrics });
  // The blocking connection also serves plain commands between BullMQ's waits; publishing is one MULTI every 5 s.
  metrics.publish(connection, config.redis.prefix, log);
  watcher.onChange((next) => agent.update(next));
  announceReady("agent", { location });
  return {
    async stop() {
      watcher.stop();
      await metrics.close();
      await agent.close();
      await closeRedis(connection);
    },
  };
}
