import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import { Keys } from "../status/index.ts";
import { LocationReports, probesRunFrom, silentAfterMs, type ReportingState } from "./location-reports.ts";
import { playbookPoster } from "./playbook-posts.ts";

const CHECK_EVERY_MS = 1_000;

/**
 * Watches every remote location's pushes: one that pushed nothing for
 * `silent_after` of its shortest probe interval becomes `silent` (the
 * evaluator leaves it out of quorum: the other locations decide), and on-call
 * gets one post; its next push makes it `reporting` again, with one more
 * post. Nothing of this reaches the public page: a quiet agent is not an
 * outage. The state moves by compare-and-set, so any number of workers may
 * run the check and each change is announced once.
 */
export function startLocationSilenceCheck(options: { config: () => Config; connection: Redis; log: Logger }): { close(): Promise<void> } {
  const log = options.log.child({ module: "pipeline.locations" });
  const reports = new LocationReports(options.connection, options.config().redis.prefix);
  const keys = new Keys(options.config().redis.prefix);
  const poster = playbookPoster({ config: options.config, connection: options.connection });
  let running = false;

  async function check(): Promise<void> {
    const config = options.config();
    const remote = config.locations.filter((l) => l.remote);
    if (remote.length === 0) return;
    const [pulse, paused] = await Promise.all([reports.pulse(remote.map((l) => l.id)), options.connection.smembers(keys.pausedProbes)]);
    const now = Date.now();
    for (const location of remote) {
      const { state, lastPush } = pulse.get(location.id) ?? { state: "never seen" as const };
      if (lastPush === undefined) continue;
      // An agent with nothing to run (every probe of its location paused or disabled) pushes nothing, and is not silent for it.
      if (probesRunFrom(config, location.id, new Set(paused)).length === 0) continue;
      const limit = silentAfterMs(config, location.id);
      const quiet = now - lastPush > limit;
      const next: ReportingState = quiet ? "silent" : "reporting";
      if (next === state || (state === "never seen" && quiet)) continue;
      if (!(await reports.moveState(location.id, state, next, now))) continue;
      const name = location.name === location.id ? location.id : `${location.id} (${location.name})`;
      if (state === "never seen") {
        log.info({ location: location.id }, "remote location reporting for the first time");
        continue;
      }
      const body =
        next === "silent"
          ? `Location ${name} stopped reporting at ${new Date(lastPush).toISOString()}: no result for ${Math.round((now - lastPush) / 1000)} s (silent after ${Math.round(limit / 1000)} s). Its probes are left out of quorum until it is back; the other locations decide. Check its agent and its network.`
          : `Location ${name} is reporting again (last push ${new Date(lastPush).toISOString()}); its probes count for quorum again.`;
      log.warn({ location: location.id, state: next, last_push_at: new Date(lastPush).toISOString() }, next === "silent" ? "remote location stopped reporting" : "remote location reporting again");
      await poster.post({
        key: `location.${location.id}.${next}.${now}`,
        channels: config.notifications.channels.map((c) => c.id),
        urgency: next === "silent" ? "high" : "low",
        title: `Location ${location.id} ${next === "silent" ? "stopped reporting" : "is reporting again"}`,
        body,
        author: "Pulseboard locations",
      });
    }
  }

  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check()
      .catch((err: unknown) => log.warn({ err: describeError(err) }, "checking the remote locations failed; trying again"))
      .finally(() => (running = false));
  }, CHECK_EVERY_MS);
  return {
    async close() {
      clearInterval(timer);
      while (running) await new Promise((resolve) => setTimeout(resolve, 20));
      await poster.close();
    },
  };
}
