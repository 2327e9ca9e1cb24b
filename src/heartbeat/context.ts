import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import type { Logger } from "../core/index.ts";
import { bullPrefix, QUEUE, type EvaluateJob } from "../pipeline/index.ts";
import { HeartbeatKeys } from "./keys.ts";

/** What the heartbeat verbs and the deadline checker work with. */
export interface HeartbeatContext {
  /** The running config (it changes on reload). */
  config: () => Config;
  /** A control-plane connection (the `command` profile). */
  redis: Redis;
  keys: HeartbeatKeys;
  /** Where results go, as agents put them there. */
  evaluate: Queue<EvaluateJob>;
  log: Logger;
}

/** Builds the context over a control-plane connection; `close()` closes its queue, not the connection. */
export function heartbeatContext(options: { config: () => Config; redis: Redis; log: Logger }): HeartbeatContext & { close(): Promise<void> } {
  const prefix = options.config().redis.prefix;
  const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: options.redis, prefix: bullPrefix(prefix) });
  return {
    config: options.config,
    redis: options.redis,
    keys: new HeartbeatKeys(prefix),
    evaluate,
    log: options.log,
    close: () => evaluate.close(),
  };
}
