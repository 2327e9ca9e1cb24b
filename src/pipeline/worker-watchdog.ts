import { Queue, type Worker } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import { describeError, isCluster, type Logger } from "../core/index.ts";
import { ANSWER_TIMEOUT_MS, answers } from "./connection-watchdog.ts";
import { RoleMetrics } from "./role-metrics.ts";

/** The status a process exits with when restarting a stuck worker in place did not help (EX_TEMPFAIL). */
export const WATCHDOG_EXIT_CODE = 75;

export interface WorkerWatchdogOptions {
  log: Logger;
  /** Where restarts are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
  /**
   * How long work may wait while the worker takes nothing before it counts as stuck.
   * @defaultValue the longest of 15 s, three of the worker's blocking waits (`drainDelay`) and two lock renewals
   */
  stuckAfterMs?: number;
  /** How often the queue is looked at. @defaultValue a third of `stuckAfterMs` */
  intervalMs?: number;
  /** Restarts in a row that bring nothing back before `giveUp`. @defaultValue 2 */
  maxRestarts?: number;
  /** The connection the queue is looked at through. @defaultValue one `command`-like duplicate of the worker's connection, shared by the workers on it */
  check?: Redis;
  /** When restarting in place did not help. @defaultValue exit with WATCHDOG_EXIT_CODE, so that `pulseboard start` (or systemd, Kubernetes) starts the role again */
  giveUp?: (reason: string) => void;
}

/** What the watchdog saw when it acted. */
interface Sighting {
  waiting: number;
  waitedMs: number;
  quietMs: number;
}

/**
 * Notices a BullMQ worker that stopped taking jobs and restarts its consumer.
 *
 * BullMQ 6 guards its blocking wait itself (a BZPOPMIN that outlives its
 * timeout is abandoned and the blocking connection reset), but not the
 * worker's command connection: when it goes silent (the server vanished
 * behind a failover, a proxy or NAT entry dropped, no reset), the fetch
 * (`moveToActive`) waits on it forever, because a worker's connection has
 * no command timeout; `isRunning()` stays true and nothing is logged. A
 * worker whose fetch loop ended (an error thrown out of it) is as quiet.
 *
 * So it watches the symptom. Every `intervalMs` it counts the queue's
 * waiting jobs through a connection of its own (a delayed job more than
 * 10 s past its time counts too: only the worker's fetch promotes it, so a
 * job scheduler's next runs stay delayed behind a stuck worker); when jobs have waited for
 * `stuckAfterMs` and the worker took, finished or renewed the lock of none
 * in that time (a busy worker renews its locks, so long jobs never count as
 * stuck; an idle queue never does), it logs a warning naming the queue,
 * counts `pulseboard_worker_watchdog_restarts_total{queue}` and restarts the
 * consumer in place: the command connection is reconnected if it does not
 * answer a PING (ioredis then sends the hung commands again on the fresh
 * socket), the blocking connection is reconnected if it ended, and the
 * fetch loop is started again if it stopped. The Worker object stays, so
 * its owner's listeners and `close()` hold. If `maxRestarts` restarts in a
 * row bring nothing back, it gives up: by default the process exits with
 * WATCHDOG_EXIT_CODE to be started afresh. It stops when the worker closes.
 */
export function watchWorker(worker: Worker, options: WorkerWatchdogOptions): { stop(): void } {
  const queueName = worker.name;
  const connection = workerConnection(worker);
  const log = options.log.child({ watchdog: "worker", queue: queueName });
  const stuckAfterMs = options.stuckAfterMs ?? defaultStuckAfterMs(worker);
  if (worker.opts.skipLockRenewal) throw new RangeError(`the watchdog of the ${queueName} worker tells a busy worker by its lock renewals; skipLockRenewal must be off`);
  if (!(stuckAfterMs >= 2 * lockRenewMs(worker))) {
    throw new RangeError(`stuckAfterMs (${stuckAfterMs} ms) must be at least two lock renewals of the ${queueName} worker (${2 * lockRenewMs(worker)} ms), or a worker busy with long jobs counts as stuck`);
  }
  const intervalMs = options.intervalMs ?? Math.max(1_000, Math.round(stuckAfterMs / 3));
  const maxRestarts = options.maxRestarts ?? 2;
  const giveUp = options.giveUp ?? exitForRestart(log);
  const metrics = options.metrics ?? new RoleMetrics("test", { runtime: false });
  const restarts = metrics.counter("pulseboard_worker_watchdog_restarts_total", "Workers the watchdog found taking no job while jobs waited, and restarted", ["queue"]);
  restarts.inc({ queue: queueName }, 0);

  const check = options.check ? { redis: options.check, owned: false, release: () => {} } : { ...sharedCheckConnection(connection), owned: true };
  // Made afresh after a failed look: a Queue whose first use failed (its INFO timed out) keeps failing.
  let queue: Queue | undefined;
  let lastProgress = Date.now();
  let lastRestart = 0;
  let waitingSince: number | undefined;
  let restartsInRow = 0;
  let wasRunning = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const progress = (): void => {
    lastProgress = Date.now();
    restartsInRow = 0;
  };
  const events = ["active", "completed", "failed", "locksRenewed"] as const;
  for (const event of events) worker.on(event, progress);

  const tick = async (): Promise<void> => {
    try {
      await look();
    } catch (err) {
      log.warn({ err: describeError(err) }, "worker watchdog check failed; looking again later");
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs).unref();
  };

  async function look(): Promise<void> {
    // A worker paused, closing, or never started by its owner is not stuck.
    wasRunning ||= worker.isRunning();
    if (stopped || worker.closing || worker.isPaused() || !wasRunning) return;
    const waiting = await waitingJobs();
    if (waiting === undefined) return;
    const now = Date.now();
    if (waiting === 0) {
      waitingSince = undefined;
      return;
    }
    waitingSince ??= now;
    const seen: Sighting = { waiting, waitedMs: now - waitingSince, quietMs: now - lastProgress };
    // After a restart, a whole quiet period more before the next verdict.
    if (seen.waitedMs < stuckAfterMs || now - Math.max(lastProgress, lastRestart) < stuckAfterMs) return;
    if (restartsInRow >= maxRestarts) {
      const reason = `the ${queueName} worker took no job for ${Math.round(seen.quietMs / 1000)} s while ${waiting} waited, and ${restartsInRow} restarts did not help`;
      log.error({ ...seen, restarts: restartsInRow }, "worker still takes no job after restarts; giving up on it");
      stop();
      giveUp(reason);
      return;
    }
    restartsInRow++;
    restarts.inc({ queue: queueName });
    log.warn({ ...seen, restart: restartsInRow }, "worker takes no job while jobs wait; restarting its consumer");
    const repaired = await restart();
    lastRestart = Date.now();
    log.warn({ repaired: repaired.length > 0 ? repaired : ["nothing found wrong with its connections or fetch loop"], restart: restartsInRow }, "worker consumer restarted");
  }

  /** The jobs ready to be taken, or undefined when the queue cannot be looked at now (then nothing is judged). */
  async function waitingJobs(): Promise<number | undefined> {
    try {
      const looking = (queue ??= new Queue(queueName, { connection: check.redis, prefix: worker.opts.prefix }).on("error", () => {}));
      const [counts, overdue] = await withTimeout(Promise.all([looking.getJobCounts("wait", "prioritized"), overdueJobs(looking)]), ANSWER_TIMEOUT_MS + 1_000);
      return (counts.wait ?? 0) + (counts.prioritized ?? 0) + overdue;
    } catch (err) {
      log.debug({ err: describeError(err) }, "cannot count the waiting jobs now");
      void queue?.close().catch(() => {});
      queue = undefined;
      // Its own connection may be the silent one (connected, even mid-handshake): a fresh socket for the next look.
      if (check.owned && ["ready", "connect"].includes(check.redis.status)) check.redis.disconnect(true);
      return undefined;
    }
  }

  /** Restarts the consumer in place; says what it repaired. */
  async function restart(): Promise<string[]> {
    const repaired: string[] = [];
    if (!(await answers(connection))) {
      connection.disconnect(true);
      repaired.push("its command connection answered nothing: reconnected");
    }
    // A no-op when it is connected; revives one left in ioredis's terminal state (BullMQ #4378). Never waited on for long.
    await withTimeout(worker.backend.reconnectBlocking(), ANSWER_TIMEOUT_MS).catch(() => {});
    if (!worker.isRunning() && !worker.closing) {
      worker.run().catch((err: unknown) => log.error({ err: describeError(err) }, "worker fetch loop failed again"));
      repaired.push("its fetch loop had ended: started again");
    }
    return repaired;
  }

  function stop(): void {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    for (const event of events) worker.off(event, progress);
    void (queue?.close() ?? Promise.resolve()).catch(() => {}).finally(() => check.release());
  }

  worker.once("closing", stop);
  timer = setTimeout(() => void tick(), intervalMs).unref();
  return { stop };
}

/** How many delayed jobs to look at, earliest first, for ones past their time. */
const OVERDUE_PAGE = 50;
/** Past their time by more than this, delayed jobs count as waiting: BullMQ's longest blocking wait (10 s), after which a live worker promotes them. */
const OVERDUE_AFTER_MS = 10_000;

/**
 * Delayed jobs past their time by more than the worker's longest blocking
 * wait. Only a worker's fetch moves a due delayed job to wait, so the next
 * runs of a job scheduler stay delayed when the worker takes nothing: they
 * wait as surely as jobs in the wait list do.
 */
async function overdueJobs(queue: Queue): Promise<number> {
  const cutoff = Date.now() - OVERDUE_AFTER_MS;
  const earliest = await queue.getDelayed(0, OVERDUE_PAGE - 1);
  return earliest.filter((job) => job.timestamp + (job.delay ?? 0) < cutoff).length;
}

/**
 * Long enough that a healthy worker always shows life within it: BullMQ's
 * own guard on a blocking wait fires after the wait (`drainDelay`, at most
 * 10 s) plus 1 s, and a busy worker renews each lock every `lockRenewTime`.
 */
function defaultStuckAfterMs(worker: Worker): number {
  const drainDelayMs = (worker.opts.drainDelay ?? 5) * 1000;
  return Math.max(15_000, 3 * drainDelayMs, 2 * lockRenewMs(worker));
}

function lockRenewMs(worker: Worker): number {
  return worker.opts.lockRenewTime ?? (worker.opts.lockDuration ?? 30_000) / 2;
}

/** The ioredis connection the worker was given (its command connection). */
function workerConnection(worker: Worker): Redis {
  const connection = worker.opts.connection as Partial<Redis> | undefined;
  if (typeof connection?.duplicate !== "function" || typeof connection.ping !== "function") {
    throw new TypeError(`the watchdog of the ${worker.name} worker needs the worker to be given an ioredis connection, not connection options`);
  }
  return connection as Redis;
}

/** One check connection per worker connection, closed when its last watchdog stops or the worker connection is closed. */
const checkConnections = new WeakMap<Redis, { redis: Redis; users: number; close(): void }>();

function sharedCheckConnection(connection: Redis): { redis: Redis; release(): void } {
  let entry = checkConnections.get(connection);
  if (!entry) {
    // Like the `command` profile: a look that gets no answer fails in seconds instead of waiting.
    const look = { maxRetriesPerRequest: 1, commandTimeout: ANSWER_TIMEOUT_MS };
    const redis: Redis = isCluster(connection)
      ? connection.duplicate([], { redisOptions: { ...connection.options.redisOptions, ...look, connectionName: watchdogName(connection.options.redisOptions?.connectionName) } })
      : connection.duplicate({ ...look, connectionName: watchdogName(connection.options.connectionName) });
    redis.on("error", () => {});
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      connection.off("end", close);
      if (checkConnections.get(connection)?.redis === redis) checkConnections.delete(connection);
      redis.disconnect();
    };
    // Its owner closed the worker's connection: the check connection must not keep the process alive.
    connection.once("end", close);
    entry = { redis, users: 0, close };
    checkConnections.set(connection, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    redis: held.redis,
    release() {
      if (released) return;
      released = true;
      if (--held.users === 0) held.close();
    },
  };
}

/** By default a worker that restarts cannot revive is left to the supervisor: the process exits to be started again. */
function exitForRestart(log: Logger): (reason: string) => void {
  return (reason) => {
    log.fatal({ reason, exitCode: WATCHDOG_EXIT_CODE }, "exiting so that the role is started again");
    process.exit(WATCHDOG_EXIT_CODE);
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function watchdogName(name: string | undefined): string | undefined {
  return name ? `${name}:watchdog` : undefined;
}
