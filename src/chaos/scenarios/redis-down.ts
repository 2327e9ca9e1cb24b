import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describeRedisTarget, processAlive, sleep } from "../../core/index.ts";
import { HOLD_DOWN_FILE } from "../../supervisor/index.ts";
import { ChaosUsageError, type ChaosContext, type ChaosScenario } from "../types.ts";

/**
 * Kills an embedded redis-server and has `pulseboard start` leave it down
 * until the scenario's time is up (its hold-down file); the supervisor then
 * starts it again on the same port. Ctrl-C removes the file, so it comes back
 * at once; a chaos run killed outright still ends when the file's time does.
 */
function redisDown(name: string, which: "cache" | "control", description: string): ChaosScenario {
  return {
    name,
    description,
    defaultDurationMs: 20_000,
    async run(ctx: ChaosContext): Promise<string> {
      const target = ctx.target[which];
      const what = which === "cache" ? "the gateway's cache Redis" : "Pulseboard's own Redis";
      if (!target.embeddedDir) {
        throw new ChaosUsageError(
          `${name} stops ${what}, which Pulseboard embeds only when ${which === "cache" ? "CACHE_REDIS_URL and CACHE_REDIS_SENTINELS are" : "REDIS_URL and REDIS_SENTINELS are"} unset; ${target.redis ? `it points at ${describeRedisTarget(target.redis)}, which Pulseboard does not run: stop that one yourself to rehearse this` : "no embedded server was found"}`,
        );
      }
      const dir = target.embeddedDir;
      const { pid } = readPidFile(dir);
      const seconds = Math.ceil(ctx.options.durationMs / 1000);
      const holdFile = path.join(dir, HOLD_DOWN_FILE);
      writeFileSync(holdFile, String(Date.now() + ctx.options.durationMs));
      const killedAt = Date.now();
      try {
        process.kill(pid, "SIGKILL");
        ctx.note(`killed ${what} (pid ${pid}); it stays down for ${seconds} s`);
        await ctx.hold(ctx.options.durationMs);
      } finally {
        rmSync(holdFile, { force: true });
      }
      // The supervisor starts it again within a second of the file going.
      const deadline = Date.now() + 15_000;
      let back: number | undefined;
      while (Date.now() < deadline) {
        const now = tryPidFile(dir);
        if (now && now.pid !== pid && processAlive(now.pid)) {
          back = now.pid;
          break;
        }
        await sleep(250);
      }
      const down = ((Date.now() - killedAt) / 1000).toFixed(1);
      return back ? `killed ${what}; it was down for ${down} s and is back (pid ${back})` : `killed ${what}; it was not back 15 s after its time was up: check \`pulseboard start\`'s log`;
    },
  };
}

function readPidFile(dir: string): { pid: number; port: number } {
  const found = tryPidFile(dir);
  if (!found || !processAlive(found.pid)) throw new ChaosUsageError(`no embedded redis-server runs from ${dir}: is \`pulseboard start\` running with this PULSEBOARD_HOME?`);
  return found;
}

function tryPidFile(dir: string): { pid: number; port: number } | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, "redis-server.pid"), "utf8")) as { pid: number; port: number };
  } catch {
    return undefined;
  }
}

export const cacheDown = redisDown("cache-down", "cache", "the cache Redis dies and comes back later (the shared cache that took everything down)");
export const controlPlaneDown = redisDown("control-plane-down", "control", "Pulseboard's own Redis goes away for a while: the status page must stay up");
