import { hostname } from "node:os";
import { DelayedError, Queue, Worker, type Job } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";
import { formatDuration } from "../config/index.ts";
import { describeError, newId, sleep, type Logger } from "../core/index.ts";
import type { FleetDriver } from "../fleet/index.ts";
import { planOf, PlaybookStore, RunExecutor, RunConflict, isTerminal, type PlaybookRun, type ProbeRunner } from "../playbooks/index.ts";
import type { StatusContext } from "../status/index.ts";
import { agentProbes } from "./playbook-probes.ts";
import { PlaybookControl, RUN_JOB } from "./playbook-control.ts";
import { playbookPoster } from "./playbook-posts.ts";
import { TriggerEvaluator, type TriggerVerdict } from "./playbook-triggers.ts";
import { ProbeControl } from "./probe-control.ts";
import { followUpRecovery } from "./recovery-follow-up.ts";
import { bullPrefix, QUEUE, WORKER_LOCK, type PlaybookJob } from "./queues.ts";
import { RoleMetrics } from "./role-metrics.ts";
import { watchWorker } from "./worker-watchdog.ts";

const RELEASE_LEASE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export interface PlaybookWorkerOptions {
  config: Config;
  status: StatusContext;
  /** A `blocking` connection, for BullMQ. */
  connection: Redis;
  /** A `command` connection, for the playbook store. */
  redis: Redis;
  fleet: FleetDriver;
  log: Logger;
  /** How verify runs probes. @defaultValue run-now through the locations' agents, else their latest results */
  probes?: ProbeRunner;
  /** How often triggers are evaluated (durations, gateway stats). @defaultValue 1s */
  tickMs?: number;
  /** Jobs at once: runs on different targets go side by side. @defaultValue 8 */
  concurrency?: number;
  /** Life of a target lock whose holder stopped renewing it. @defaultValue 15s */
  lockTtlMs?: number;
  /** Names this worker in runs' records. @defaultValue host:pid */
  name?: string;
  /** How long a run waits for the pipeline's automatic incident before opening its own. @defaultValue 5s */
  incidentWaitMs?: number;
  /** Where run endings are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
}

export interface PlaybookWorker {
  update(config: Config): void;
  /** Evaluates every trigger now (the clock does it every tick). */
  evaluate(now?: number): Promise<TriggerVerdict[]>;
  control: PlaybookControl;
  close(): Promise<void>;
}

/**
 * The playbooks queue's worker: evaluates triggers (on every component change
 * the incident worker reports, and on a clock, one worker at a time by a
 * lease), claims runs, asks for approvals, and executes runs step by step.
 * A run's job is its idempotency key (`run.<id>`); a run interrupted by a
 * stopping worker goes back to the queue and continues from the step it
 * reached, and one whose worker died is picked up by another once BullMQ
 * finds it stalled and its target lock expired.
 */
export function startPlaybookWorker(options: PlaybookWorkerOptions): PlaybookWorker {
  const { status, fleet } = options;
  let config = options.config;
  const current = () => config;
  const log = options.log.child({ module: "pipeline.playbooks" });
  const prefix = bullPrefix(config.redis.prefix);
  const tickMs = options.tickMs ?? 1_000;
  const lockTtlMs = options.lockTtlMs ?? 15_000;
  const store = new PlaybookStore(options.redis, config.redis.prefix);
  const control = new PlaybookControl({ config: current, connection: options.redis, status, log: options.log, store });
  const queue = new Queue<PlaybookJob>(QUEUE.playbooks, { connection: options.connection, prefix });
  const poster = playbookPoster({ config: current, connection: options.redis });
  const probeControl = options.probes ? undefined : new ProbeControl({ config: current, connection: options.redis, store: status.store, log: options.log });
  const probes = options.probes ?? agentProbes(probeControl!, status, current);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const executor = new RunExecutor({ store, status, fleet, probes, posts: poster, config: current, log: options.log, worker: name, lockTtlMs, incidentWaitMs: options.incidentWaitMs });
  const evaluator = new TriggerEvaluator({ config: current, status, store, fleet, log: options.log, started, watch });
  const stopping = new AbortController();
  const metrics = options.metrics ?? new RoleMetrics("worker", { runtime: false });
  const ended = metrics.counter("pulseboard_playbook_runs_ended_total", "Playbook runs this process ended, by playbook, kind (recovery, restore) and state", ["playbook", "kind", "state"]);
  const countEnded = async (runId: string) => {
    const run = await store.run(runId);
    if (run && isTerminal(run.state)) ended.inc({ playbook: run.playbook, kind: run.kind, state: run.state });
    return run;
  };
  /** Follow-ups under way (see recovery-follow-up.ts): best effort, stopped with the worker. */
  const followUps = new Set<Promise<unknown>>();
  const followUp = (run: PlaybookRun) => {
    const task = followUpRecovery({ run, config, status, probes, log, signal: stopping.signal })
      .catch((err: unknown) => log.warn({ run: run.id, err: describeError(err) }, "cannot follow the repaired components' probes up"))
      .finally(() => followUps.delete(task));
    followUps.add(task);
  };

  /** One evaluation at a time in this process: the clock and component changes take turns. */
  let evaluating: Promise<unknown> = Promise.resolve();
  function evaluate(now = Date.now(), hint: { incident?: string } = {}): Promise<TriggerVerdict[]> {
    const next = evaluating.then(() => evaluator.evaluate(now, hint));
    evaluating = next.catch(() => {});
    return next;
  }

  /** A claimed run: queue it, or ask on-call for its approval. */
  async function started(run: PlaybookRun): Promise<void> {
    if (run.state !== "awaiting_approval") {
      await queue.add("run", { run: run.id }, { ...RUN_JOB, jobId: `run.${run.id}` });
      return;
    }
    const expiresAt = Date.parse(run.approval!.expires_at);
    await requestApproval(run, expiresAt);
    await queue.add("expire", { expire: run.id }, { jobId: `expire.${run.id}`, delay: Math.max(0, expiresAt - Date.now()), attempts: 10, backoff: { type: "exponential", delay: 1_000 }, removeOnComplete: true, removeOnFail: { age: 7 * 86_400 } });
  }

  async function requestApproval(run: PlaybookRun, expiresAt: number): Promise<void> {
    const channels = run.inputs.approval.channels;
    if (channels.length === 0) {
      log.warn({ run: run.id, playbook: run.playbook, expires_at: run.approval!.expires_at }, "playbook run awaits approval: POST /admin/api/playbooks/runs/<id>/approve");
      return;
    }
    const token = (await control.approvals()).token(run.id, expiresAt);
    const base = config.page.url.replace(/\/+$/, "");
    const incident = run.incident ? await status.store.incident(run.incident) : undefined;
    const body = [
      `Approval needed: Pulseboard proposes to run the playbook ${run.name} (run ${run.id}).`,
      `Trigger: ${run.trigger.description}.`,
      `It would ${planOf(run)}.`,
      `Approve or reject within ${formatDuration(run.inputs.approval.timeoutMs)} (the link works once): ${base}/admin/api/playbooks/approve/${token}`,
      `Or through the admin API: POST ${base}/admin/api/playbooks/runs/${run.id}/approve (or /reject).`,
    ].join("\n");
    await poster.post({ key: `${run.id}.approval`, channels, urgency: "high", body, incident, title: run.name });
    log.warn({ run: run.id, playbook: run.playbook, channels }, "playbook run awaits approval; asked on-call");
  }

  /** A playbook's run in progress: if its job was lost (a crash between claim and queueing), queue it again. */
  async function watch(run: PlaybookRun): Promise<void> {
    const now = Date.now();
    if (run.state === "awaiting_approval") {
      if (now > Date.parse(run.approval!.expires_at) + 5_000) await control.expire(run.id);
      return;
    }
    if (isTerminal(run.state) || now - Date.parse(run.updated_at) < 3 * lockTtlMs) return;
    if ((await store.lockHolder(run.target))?.startsWith(`${run.id}:`)) return;
    const jobs = await queue.getJobs(["active", "waiting", "delayed", "prioritized"]);
    if (jobs.some((j) => "run" in j.data && j.data.run === run.id)) return;
    await queue.add("run", { run: run.id }, { ...RUN_JOB, jobId: `run.${run.id}.again.${now}` });
    log.warn({ run: run.id, playbook: run.playbook }, "a run in progress had no job; queued it again");
  }

  /** A run whose job gave up (it kept failing outside its steps, or its workers kept dying): it ends failed. */
  async function abandon(runId: string, reason: string): Promise<void> {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const run = await store.run(runId);
      if (!run || isTerminal(run.state)) return;
      try {
        await store.finish({ ...run, outcome: `It could not be carried on: ${reason}` }, "failed", false);
        await countEnded(runId);
        break;
      } catch (err) {
        if (!(err instanceof RunConflict)) throw err;
      }
    }
    const run = await store.run(runId);
    if (!run) return;
    const channels = run.inputs.onFailure.escalate;
    if (channels.length > 0 && run.mode !== "dry-run") {
      const incident = run.incident ? await status.store.incident(run.incident) : undefined;
      await poster.post({ key: `${run.id}.escalation`, channels, urgency: "high", body: `Automatic recovery failed and needs a person: the playbook ${run.name} (run ${run.id}) could not be carried on: ${reason}`, incident, title: run.name });
    }
    log.error({ run: runId, reason }, "playbook run abandoned");
  }

  async function processJob(job: Job<PlaybookJob>, token?: string): Promise<unknown> {
    const data = job.data;
    if ("check" in data) {
      const verdicts = await evaluate(Date.now(), { incident: data.check.incident });
      return { started: verdicts.filter((v) => v.outcome === "started").map((v) => v.run) };
    }
    if ("expire" in data) return { expired: Boolean(await control.expire(data.expire)) };
    const outcome = await executor.execute(data.run, stopping.signal);
    if ("ended" in outcome) {
      const run = await countEnded(data.run);
      // Only a run that ended just now: a job run again for a run long over follows nothing up.
      if (run?.state === "succeeded" && Date.now() - Date.parse(run.ended_at ?? "") < 60_000) followUp(run);
    }
    if ("waiting" in outcome || "interrupted" in outcome) {
      // Back to the queue: the run continues when the target is free, here or in another worker.
      await job.moveToDelayed(Date.now() + ("waiting" in outcome ? 1_000 : 250), token);
      throw new DelayedError();
    }
    return outcome;
  }

  const worker = new Worker<PlaybookJob>(QUEUE.playbooks, processJob, { connection: options.connection, prefix, concurrency: options.concurrency ?? 8, ...WORKER_LOCK });
  worker.on("error", (err) => log.warn({ err: err.message }, "playbook worker error"));
  metrics.observe(worker, QUEUE.playbooks);
  watchWorker(worker, { log, metrics });
  worker.on("failed", (job, err) => {
    if (!job || !("run" in job.data)) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled more than allowable limit/.test(err.message);
    if (!final) return log.warn({ run: job.data.run, attempt: job.attemptsMade, err: err.message }, "playbook run job failed; it continues from the step it reached");
    abandon(job.data.run, err.message).catch((e: unknown) => log.error({ run: (job.data as { run: string }).run, err: describeError(e) }, "cannot record an abandoned run"));
  });

  // The clock: durations and gateway stats. One worker at a time evaluates (a lease), others stand by.
  const owner = newId(12);
  const leaseMs = Math.max(3 * tickMs, 3_000);
  let running = true;
  let closing: Promise<void> | undefined;
  const clock = (async () => {
    while (running) {
      try {
        if (await holdLease()) await evaluate();
      } catch (err) {
        if (running) log.warn({ err: describeError(err) }, "playbook trigger evaluation failed; trying again");
      }
      await sleep(tickMs);
    }
  })();

  async function holdLease(): Promise<boolean> {
    const key = store.keys.evaluator;
    if ((await options.redis.set(key, owner, "PX", leaseMs, "NX")) === "OK") return true;
    if ((await options.redis.get(key)) !== owner) return false;
    await options.redis.pexpire(key, leaseMs);
    return true;
  }

  log.info({ playbooks: config.playbooks.length, worker: name }, "playbook worker started");
  return {
    update(next) {
      config = next;
    },
    evaluate: (now) => evaluate(now),
    control,
    close() {
      closing ??= stop();
      return closing;
    },
  };

  /** Interrupts runs under way (they go back to the queue and continue elsewhere or later), then closes. */
  async function stop(): Promise<void> {
    running = false;
    stopping.abort(new Error("the worker is stopping"));
    await clock;
    await worker.close();
    await Promise.all(followUps);
    await options.redis.eval(RELEASE_LEASE_LUA, 1, store.keys.evaluator, owner).catch(() => {});
    await Promise.all([queue.close(), poster.close(), control.close(), probeControl?.close()]);
  }
}
