import type { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import type { Logger } from "../../src/core/index.ts";
import { startAgent, startEvaluator, startIncidentWorker, syncSchedules, type RoleMetrics } from "../../src/pipeline/index.ts";
import type { StatusContext } from "../../src/status/index.ts";
import { probeRegistry, testLog } from "./config.ts";

/**
 * The probe-to-incident half of the pipeline, wired as the agent and worker
 * roles wire it: schedules synced, an agent for location `local`, the
 * evaluator and the incident worker. Resolves with a function that stops them.
 */
export async function startProbePipeline(options: { config: Config; status: StatusContext; commands: Redis; blocking: Redis; metrics?: RoleMetrics; log?: Logger }): Promise<() => Promise<void>> {
  const { config, status, blocking, metrics } = options;
  const log = options.log ?? testLog();
  await syncSchedules(config, options.commands, log);
  const agent = startAgent({ config, registry: await probeRegistry(), location: "local", connection: blocking, log, metrics });
  const evaluator = startEvaluator({ config, status, connection: blocking, log, metrics });
  const incidents = startIncidentWorker({ config, status, connection: blocking, log, metrics });
  return async () => {
    await agent.close();
    await evaluator.close();
    await incidents.close();
  };
}
