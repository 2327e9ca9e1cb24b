import { describeError } from "../core/index.ts";
import { runAgent } from "./agent.ts";
import type { Role, RoleContext } from "./context.ts";
import { runScheduler } from "./scheduler.ts";
import { runWorker } from "./worker.ts";

/**
 * `pulseboard core`: the worker, the scheduler and one agent per local location
 * (or the one `--location` names) in one process, as `pulseboard start`
 * runs them on one machine. They share one Node runtime instead of paying
 * for one each; they never talked but through Redis, and still do. Their
 * fate is shared (a crash of one restarts all three), never with the web
 * role or the gateway. In production each runs as its own role.
 */
export async function runCore(ctx: RoleContext, location?: string): Promise<Role> {
  // A remote location's agent runs elsewhere and reaches the control plane over HTTPS only.
  const locations = location ? [location] : ctx.config.locations.filter((l) => !l.remote).map((l) => l.id);
  const part = (name: string): RoleContext => ({ ...ctx, log: ctx.log.child({ part: name }) });
  const started: Role[] = [];
  try {
    started.push(await runWorker(part("worker")));
    started.push(await runScheduler(part("scheduler")));
    for (const id of locations) started.push(await runAgent(part(`agent:${id}`), id));
  } catch (err) {
    await stopAll(started, ctx);
    throw err;
  }
  return { stop: () => stopAll(started, ctx) };
}

/** Stops the parts in reverse order of start: the agents stop feeding the worker before it stops. */
async function stopAll(parts: Role[], { log }: RoleContext): Promise<void> {
  for (const role of [...parts].reverse()) {
    try {
      await role.stop();
    } catch (err) {
      log.error({ err: describeError(err) }, "a part of the core role did not stop cleanly");
    }
  }
}
