import type { Config } from "../config/index.ts";
import { formatDuration, formatIssues } from "../config/index.ts";
import { describeError, newId, scrub, scrubDeep, secretsIn, type Logger } from "../core/index.ts";
import type { FleetDriver } from "../fleet/index.ts";
import type { Incident, StatusContext } from "../status/index.ts";
import { escalate } from "./escalate.ts";
import { isTerminal, type PlaybookRun, type RunPhase, type RunState, type StepRecord } from "./model.ts";
import type { PlaybookStore } from "./store.ts";
import { sleep, took } from "./steps/common.ts";
import { stepOf } from "./steps/registry.ts";
import { NOT_STARTED, type ChannelPoster, type PlaybookStep, type ProbeRunner, type StepContext, type StepOutcome } from "./steps/types.ts";
import { appendDecisionEntry, appendRunEntry, incidentFor, resolveRunIncident, type RunAnnouncement } from "./timeline.ts";

/** Steps that change nothing of the service: they never tell the public a fix is under way. */
const ANNOUNCING_NOTHING = new Set(["verify", "wait", "notify"]);

/** Tries of a step whose fleet call failed in a way trying again can fix. */
const STEP_TRIES = 3;

export interface RunnerOptions {
  store: PlaybookStore;
  status: StatusContext;
  fleet: FleetDriver;
  probes: ProbeRunner;
  posts: ChannelPoster;
  config: () => Config;
  log: Logger;
  /** Names this worker in the runs it executes. */
  worker: string;
  /** Life of a target lock its holder does not renew (it renews every third of it). @defaultValue 15s */
  lockTtlMs?: number;
  /** How long a run fired by a component or probe waits for the pipeline's automatic incident before opening its own. @defaultValue 5s */
  incidentWaitMs?: number;
}

/** How one execution of a run ended. */
export type ExecuteOutcome =
  /** The run ended (or had ended already). */
  | { ended: RunState }
  /** Nothing to do (no such run, or it waits for approval). */
  | { skipped: string }
  /** Another run holds the target: try again soon. */
  | { waiting: string }
  /** The worker is stopping (or lost the lock): the run continues from where it is, later. */
  | { interrupted: string };

/**
 * Executes playbook runs one step at a time, recording each step in Redis
 * before it starts and after it ends, so a run survives the death of the
 * worker executing it: a later execution continues from the step it reached.
 * A step found started but unfinished is repeated only when that is safe
 * (`resume: "repeat"`); otherwise it is checked instead. One run at a time
 * per target, by a Redis lock its holder renews and that expires when the
 * holder dies.
 */
export class RunExecutor {
  private readonly log: Logger;
  private readonly lockTtlMs: number;

  constructor(private readonly options: RunnerOptions) {
    this.log = options.log.child({ module: "playbooks.runner" });
    this.lockTtlMs = options.lockTtlMs ?? 15_000;
  }

  async execute(runId: string, stop: AbortSignal): Promise<ExecuteOutcome> {
    const { store } = this.options;
    const found = await store.run(runId);
    if (!found) return { skipped: `no run ${runId}` };
    if (isTerminal(found.state)) return { ended: found.state };
    if (found.state === "awaiting_approval") return { skipped: "awaiting approval" };
    const hold = `${found.id}:${newId(8)}`;
    if (!(await store.acquireLock(found.target, hold, this.lockTtlMs))) return { waiting: (await store.lockHolder(found.target)) ?? "another run" };
    const lost = new AbortController();
    const renewal = setInterval(() => {
      store.renewLock(found.target, hold, this.lockTtlMs).then(
        (held) => held || lost.abort(new Error("the target lock was lost")),
        () => {},
      );
    }, this.lockTtlMs / 3);
    const signal = AbortSignal.any([stop, lost.signal]);
    try {
      const session = new RunSession(this.options, await this.reload(found.id), signal, this.log);
      return { ended: await session.execute() };
    } catch (err) {
      if (signal.aborted) {
        const reason = describeError(signal.reason);
        this.log.warn({ run: runId, reason }, "run interrupted; it continues from the step it reached");
        return { interrupted: reason };
      }
      throw err;
    } finally {
      clearInterval(renewal);
      await store.releaseLock(found.target, hold).catch(() => {});
    }
  }

  /** The run as stored now that the lock is held (a previous holder may have moved it on). */
  private async reload(id: string): Promise<PlaybookRun> {
    const run = await this.options.store.run(id);
    if (!run) throw new Error(`run ${id} disappeared`);
    return run;
  }
}

/** One execution of one run, holding its target's lock. */
class RunSession {
  private incident?: Incident;

  constructor(
    private readonly options: RunnerOptions,
    private run: PlaybookRun,
    private readonly signal: AbortSignal,
    private readonly log: Logger,
  ) {}

  async execute(): Promise<RunState> {
    if (isTerminal(this.run.state)) return this.run.state;
    await this.begin();
    const stopped = await this.phase("steps");
    if (stopped?.deferred) {
      const again = this.run.inputs.restore ? ` once the trigger has been clear for another ${formatDuration(this.run.inputs.restore.afterMs)}` : " later";
      return this.finish("succeeded", `Deferred at ${stopped.action}: ${stopped.summary ?? "not yet"} The restore is tried again${again}.`, true);
    }
    const failed = stopped;
    if (failed) {
      await escalate(this.failureContext(), failed);
      await this.phase("fallback");
      return this.finish("failed", `Failed at ${failed.action}: ${failed.summary ?? "no reason"}`);
    }
    const elapsed = took(Date.now() - Date.parse(this.run.started_at!));
    await resolveRunIncident(this.options.status, this.run, `Automatic recovery (${this.run.name}) is complete: every step succeeded in ${elapsed}.`, this.log, this.options.config());
    return this.finish("succeeded", `Every step succeeded in ${elapsed}.`);
  }

  private async begin(): Promise<void> {
    const now = new Date().toISOString();
    const next = [...this.run.steps, ...this.run.fallback].find((s) => s.state !== "succeeded" && s.state !== "failed");
    const from = next ? `${next.phase}[${next.index}]` : "end";
    await this.save({
      ...this.run,
      state: "running",
      started_at: this.run.started_at ?? now,
      executions: [...this.run.executions, { worker: this.options.worker, started_at: now, from }],
    });
    if (this.run.executions.length > 1) this.log.info({ run: this.run.id, from }, "resuming run");
    const { incident, opened } = await incidentFor(this.options.status, this.run, this.options.incidentWaitMs ?? 5_000, this.signal, this.options.config());
    this.incident = incident;
    if (incident && this.run.incident !== incident.id) await this.save({ ...this.run, incident: incident.id, opened_incident: opened });
    if (incident && this.run.mode !== "dry-run") await appendDecisionEntry(this.options.status, this.run, incident.id, this.log);
  }

  /**
   * Runs a phase's steps in order; returns the step that stopped it, if one
   * did: one that failed (fallback failures are only recorded), or a restore
   * step that deferred the restore.
   */
  private async phase(phase: RunPhase): Promise<StepRecord | undefined> {
    const list = () => (phase === "steps" ? this.run.steps : this.run.fallback);
    for (let i = 0; i < list().length; i++) {
      const record = await this.step(list()[i]!);
      if ((record.state === "failed" || record.deferred) && phase === "steps") return record;
    }
    return undefined;
  }

  private async step(record: StepRecord): Promise<StepRecord> {
    if (record.state === "succeeded" || record.state === "failed") return record;
    const kind = stepOf(record.action);
    if (!kind) return this.end(record, { ok: false, summary: `No step implements "${record.action}".` }, Date.now());
    const parsed = kind.configSchema.safeParse(record.settings);
    if (!parsed.success) return this.end(record, { ok: false, summary: `Its settings are invalid: ${formatIssues(parsed.error.issues).join("; ")}.` }, Date.now());
    const settings = parsed.data;
    const interrupted = record.state === "started";
    const timeoutMs = kind.timeoutMs(settings);
    const deadline = AbortSignal.any([this.signal, AbortSignal.timeout(timeoutMs)]);

    if (interrupted && kind.resume === "check") {
      const started = Date.now();
      const ctx = this.context(record, deadline);
      const found = await kind.check?.(settings, ctx).catch((err: unknown) => {
        if (this.signal.aborted) throw err;
        return undefined;
      });
      if (found !== NOT_STARTED) {
        const outcome: StepOutcome = found ?? {
          ok: false,
          summary: `Interrupted while it ran (its worker stopped); not repeated, because running it twice could hurt, and its effect could not be confirmed.`,
        };
        return this.end(record, outcome, started, "checked");
      }
      // Nothing it asked for ever happened: running it now is its first time, not its second.
      this.log.info({ run: this.run.id, step: `${record.phase}[${record.index}]`, action: record.action }, "interrupted step had not taken effect; running it again");
    }

    record = await this.replace(record, {
      ...record,
      state: "started",
      started_at: record.started_at ?? new Date().toISOString(),
      attempts: record.attempts + 1,
    });
    const started = Date.now();
    const outcome = await this.attempt(kind, settings, this.context(record, deadline), timeoutMs, deadline);
    return this.end(record, outcome, started, interrupted ? "repeated" : undefined);
  }

  /** Runs a step, again when its failure is one trying again can fix (`retryable`), within its deadline. */
  private async attempt(kind: PlaybookStep, settings: unknown, ctx: StepContext, timeoutMs: number, deadline: AbortSignal): Promise<StepOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await kind.run(settings, ctx);
      } catch (err) {
        if (this.signal.aborted) throw err;
        if (deadline.aborted) return { ok: false, summary: `It did not finish within ${formatDuration(timeoutMs)} (${describeError(err)}).` };
        if ((err as { retryable?: boolean }).retryable !== true || attempt >= STEP_TRIES) return { ok: false, summary: describeError(err) };
        this.log.warn({ run: this.run.id, action: kind.action, attempt, err: describeError(err) }, "step failed; trying again");
        await sleep(1_000 * attempt, deadline).catch(() => {});
      }
    }
  }

  private context(record: StepRecord, signal: AbortSignal): StepContext {
    const { options } = this;
    return {
      signal,
      dryRun: this.run.mode === "dry-run",
      fleet: options.fleet,
      probes: options.probes,
      posts: options.posts,
      target: options.store.memory(this.run.target),
      run: this.run,
      key: `${this.run.id}.${record.phase}.${record.index}`,
      firstStartedAt: record.started_at ? Date.parse(record.started_at) : Date.now(),
      intent: record.intent,
      remember: async (intent) => {
        const current = this.recordOf(record);
        await this.replace(current, { ...current, intent });
      },
      incident: async () => this.incident,
      config: options.config(),
      log: this.log.child({ run: this.run.id, step: `${record.phase}[${record.index}]`, action: record.action }),
    };
  }

  /** Records how a step ended and appends its timeline entry; neither shows a secret of the step's settings (a command's --token, a header). */
  private async end(record: StepRecord, said: StepOutcome, started: number, resumed?: "repeated" | "checked"): Promise<StepRecord> {
    const tookMs = Date.now() - started;
    const secrets = secretsIn(record.settings);
    const outcome = { ...said, summary: scrub(said.summary, secrets), details: scrubDeep(said.details, secrets) } as StepOutcome;
    const current = this.recordOf(record);
    const ended = await this.replace(current, {
      ...current,
      state: outcome.ok ? "succeeded" : "failed",
      started_at: current.started_at ?? new Date(started).toISOString(),
      ended_at: new Date().toISOString(),
      took_ms: tookMs,
      summary: outcome.summary,
      details: outcome.details,
      resumed: resumed ?? current.resumed,
      ...(outcome.ok && outcome.defer && this.run.kind === "restore" ? { deferred: true } : {}),
    });
    const total = record.phase === "steps" ? this.run.steps.length : this.run.fallback.length;
    const where = record.phase === "steps" ? `step ${record.index + 1} of ${total}` : `fallback step ${record.index + 1} of ${total}`;
    const again = resumed === "checked" ? " (checked after an interruption)" : resumed === "repeated" ? " (run again after an interruption)" : "";
    const verdict = outcome.ok ? "" : "Failed: ";
    await appendRunEntry(
      this.options.status,
      this.run,
      `${record.phase}:${record.index}`,
      `Automatic recovery (${this.run.name}), ${where}: ${record.label}${again}. ${verdict}${outcome.summary} Took ${took(tookMs)}.`,
      this.log,
      this.announcement(record, outcome),
    );
    this.log.info({ run: this.run.id, step: `${record.phase}[${record.index}]`, action: record.action, ok: outcome.ok, took_ms: tookMs, resumed }, outcome.summary);
    return ended;
  }

  /**
   * What a step that worked tells the public: the first repair of a recovery
   * means the cause is found and being fixed; a passing verify, that the fix
   * worked. Everything else stays on the on-call timeline.
   */
  private announcement(record: StepRecord, outcome: StepOutcome): RunAnnouncement | undefined {
    if (!outcome.ok || this.run.kind !== "recovery" || record.phase !== "steps") return undefined;
    const wording = this.options.config();
    if (record.action === "verify") return { phase: "monitoring", wording };
    return ANNOUNCING_NOTHING.has(record.action) ? undefined : { phase: "identified", wording };
  }

  /** The current copy of a step's record (the run may have been saved since it was read). */
  private recordOf(record: StepRecord): StepRecord {
    const list = record.phase === "steps" ? this.run.steps : this.run.fallback;
    return list[record.index]!;
  }

  private async replace(record: StepRecord, next: StepRecord): Promise<StepRecord> {
    const swap = (list: StepRecord[]) => list.map((s) => (s.index === record.index ? next : s));
    await this.save(record.phase === "steps" ? { ...this.run, steps: swap(this.run.steps) } : { ...this.run, fallback: swap(this.run.fallback) });
    return next;
  }

  private async save(next: PlaybookRun): Promise<void> {
    this.run = await this.options.store.save(next);
  }

  private async finish(state: RunState, outcome: string, deferred = false): Promise<RunState> {
    this.run = await this.options.store.finish({ ...this.run, outcome }, state, this.run.kind === "recovery" && this.run.inputs.restore !== undefined, deferred);
    this.log.info({ run: this.run.id, playbook: this.run.playbook, state, outcome }, "run ended");
    return state;
  }

  private failureContext() {
    return {
      options: this.options,
      run: () => this.run,
      save: (next: PlaybookRun) => this.save(next),
      incident: this.incident,
      log: this.log,
    };
  }
}
