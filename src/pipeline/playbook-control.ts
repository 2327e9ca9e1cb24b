import { Queue } from "bullmq";
import type { RedisConnection as Redis } from "../core/index.ts";
import { checkPlaybook, type Config, type PlaybookConfig } from "../config/index.ts";
import { ConflictError, NotFoundError, ValidationError, type Logger } from "../core/index.ts";
import {
  ApprovalSigner,
  PlaybookStore,
  RunConflict,
  appendDecisionEntry,
  describeTrigger,
  isTerminal,
  newRun,
  playbookSteps,
  redactPlaybook,
  redactRun,
  type DecisionVia,
  type HeldRun,
  type PlaybookRun,
  type PlaybookState,
} from "../playbooks/index.ts";
import { isUnresolved, type StatusContext } from "../status/index.ts";
import { readHolding, type GuardNow } from "./playbook-holding.ts";
import { bullPrefix, QUEUE, type PlaybookJob } from "./queues.ts";

/** Options of run jobs: a run that fails for a reason outside its steps (Redis gone) is tried again from the step it reached. */
export const RUN_JOB = {
  attempts: 5,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 24 * 3_600, count: 1_000 },
  removeOnFail: { age: 7 * 86_400 },
} as const;

/** A playbook as the admin API shows it: its config, whether it is on, and its state. */
export interface PlaybookView {
  id: string;
  name: string;
  enabled: boolean;
  /** Set through the admin API (beats pulseboard.yaml) rather than by the file. */
  toggled: boolean;
  mode: PlaybookConfig["mode"];
  target: string;
  trigger: string;
  steps: string[];
  state: PlaybookState;
  /** The guards that would hold a run back if its trigger fired now (empty: it would start). */
  holding: GuardNow[];
  last_run: PlaybookRun | null;
  config: PlaybookConfig;
}

/** Who decided on a run (or asked for one), and how. */
export interface Decision {
  by: string;
  via: DecisionVia;
}

/**
 * Playbooks for people (the admin API) and for the worker's approval flow:
 * list them and their runs, switch them on and off without a restart,
 * approve, reject or expire runs that wait for approval, and sign approve
 * links. Approving queues the run; everything else is a write to the store.
 */
export class PlaybookControl {
  readonly store: PlaybookStore;
  private readonly queue: Queue<PlaybookJob>;
  private signer?: Promise<ApprovalSigner>;

  /** Where a rejection is credited on the incident's timeline. */
  private readonly status: StatusContext;

  /** `status`: the incidents, where a rejection is credited (the role's own context, so review mode is followed). */
  constructor(private readonly options: { config: () => Config; connection: Redis; status: StatusContext; log: Logger; store?: PlaybookStore }) {
    this.store = options.store ?? new PlaybookStore(options.connection, options.config().redis.prefix);
    this.status = options.status;
    this.queue = new Queue<PlaybookJob>(QUEUE.playbooks, { connection: options.connection, prefix: bullPrefix(options.config().redis.prefix) });
  }

  async list(): Promise<PlaybookView[]> {
    const overrides = await this.store.overrides();
    return Promise.all(this.options.config().playbooks.map((p) => this.view(p, overrides)));
  }

  async playbook(id: string): Promise<PlaybookView> {
    return this.view(this.configOf(id), await this.store.overrides());
  }

  /** Most recent runs first (secrets in step settings masked). */
  async runs(options: { playbook?: string; limit?: number } = {}): Promise<PlaybookRun[]> {
    if (options.playbook) this.configOf(options.playbook);
    return (await this.store.recentRuns(options)).map(redactRun);
  }

  /**
   * Runs the guards held back (cooldown, max runs, a maintenance window, a
   * failed run), most recent first: those first held at or after `since`
   * (ISO 8601) when given, of one playbook when given.
   */
  async holds(options: { playbook?: string; since?: string; limit?: number } = {}): Promise<HeldRun[]> {
    if (options.playbook) this.configOf(options.playbook);
    const sinceMs = options.since === undefined ? undefined : Date.parse(options.since);
    if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new ValidationError([`since: expected an ISO 8601 time like "2026-12-01T12:00:00Z", got "${options.since}"`]);
    return this.store.holds.list({ sinceMs, playbook: options.playbook, limit: options.limit });
  }

  /** One run's audit record (secrets in step settings masked). */
  async run(id: string): Promise<PlaybookRun> {
    return redactRun(await this.stored(id));
  }

  /**
   * Checks a playbook written as in pulseboard.yaml against the running
   * config (the checks made at start): ValidationError naming each field.
   */
  async validate(entry: unknown): Promise<{ valid: true; playbook: PlaybookConfig }> {
    const { playbook, problems } = checkPlaybook(entry, this.options.config(), playbookSteps);
    if (!playbook) throw new ValidationError(problems);
    return { valid: true, playbook: redactPlaybook(playbook) };
  }

  /** Switches a playbook on or off at once, in every worker (kept in Redis; beats pulseboard.yaml). */
  async setEnabled(id: string, enabled: boolean): Promise<PlaybookView> {
    this.configOf(id);
    await this.store.setOverride(id, enabled);
    this.options.log.info({ playbook: id, enabled }, enabled ? "playbook enabled" : "playbook disabled");
    return this.playbook(id);
  }

  /**
   * Starts a dry run of a playbook now, for `by`: its steps as written, each
   * calling the fleet driver with `dryRun` and recording what it would have
   * done, nothing written to incidents, nobody paged. It claims no guard (a
   * real run is never held back by it) and works on a playbook switched
   * off too (to try it before switching it on). One at a time per playbook:
   * ConflictError while one is under way.
   */
  async dryRun(id: string, decision: Decision): Promise<PlaybookRun> {
    const playbook = this.configOf(id);
    const under = (await this.store.recentRuns({ playbook: id, limit: 20 })).find((r) => r.requested && !isTerminal(r.state));
    if (under) throw new ConflictError(`a dry run of ${id} is under way already (run ${under.id}, ${under.state.replace(/_/g, " ")}); wait for it to end`);
    const now = Date.now();
    const at = new Date(now).toISOString();
    const proposed = newRun({ ...playbook, mode: "dry-run" }, "recovery", { description: `A dry run asked for by ${decision.by}`, observed: { requested_by: decision.by }, at }, { now });
    const run = await this.store.startRequested({ ...proposed, inputs: playbook, requested: { by: decision.by, via: decision.via, at } }, now);
    await this.queue.add("run", { run: run.id }, { ...RUN_JOB, jobId: `run.${run.id}` });
    this.options.log.info({ run: run.id, playbook: id, by: decision.by, via: decision.via }, "playbook dry run asked for");
    return redactRun(run);
  }

  /** Approves a run that waits for approval, and queues it. */
  async approve(id: string, decision: Decision): Promise<PlaybookRun> {
    const now = Date.now();
    const before = await this.stored(id);
    if (before.state === "awaiting_approval" && before.approval && Date.parse(before.approval.expires_at) <= now) {
      await this.expire(id);
      throw new ValidationError([`run ${id}: its approval expired at ${before.approval.expires_at}`]);
    }
    const { run, changed } = await this.store.update(id, (current) =>
      current.state === "awaiting_approval"
        ? { ...current, state: "queued", approval: { ...current.approval!, decision: "approved", by: decision.by, via: decision.via, decided_at: new Date(now).toISOString() } }
        : undefined,
    );
    if (!changed || !run) throw new ValidationError([`run ${id}: it is ${run?.state ?? "gone"}, not awaiting approval`]);
    await this.queue.add("run", { run: id }, { ...RUN_JOB, jobId: `run.${id}` });
    this.options.log.warn({ run: id, playbook: run.playbook, by: decision.by, via: decision.via }, "playbook run approved");
    return redactRun(run);
  }

  /** Rejects a run that waits for approval: it ends without doing anything. */
  async reject(id: string, decision: Decision): Promise<PlaybookRun> {
    const run = await this.decide(id, "rejected", { by: decision.by, via: decision.via });
    if (!run) throw new ValidationError([`run ${id}: it is ${(await this.stored(id)).state}, not awaiting approval`]);
    this.options.log.info({ run: id, playbook: run.playbook, by: decision.by, via: decision.via }, "playbook run rejected");
    const incident = run.incident ?? (await this.openAutomaticIncident());
    if (incident) await appendDecisionEntry(this.status, run, incident, this.options.log);
    return redactRun(run);
  }

  /** Expires a run still waiting for approval (its time is up); a run decided meanwhile is left as it is. */
  async expire(id: string): Promise<PlaybookRun | undefined> {
    const run = await this.decide(id, "expired", { via: "timeout" });
    if (run) this.options.log.info({ run: id, playbook: run.playbook }, "playbook run expired without approval");
    return run;
  }

  /** The signer of approve links (its key is made once and kept in Redis, so every process agrees). */
  approvals(): Promise<ApprovalSigner> {
    this.signer ??= this.store.linkKey().then((key) => new ApprovalSigner(key));
    this.signer.catch(() => (this.signer = undefined));
    return this.signer;
  }

  /** The run an approve link names, if the link is valid and unused. */
  async linked(token: string): Promise<{ run: PlaybookRun; expiresAt: number; nonce: string }> {
    const link = (await this.approvals()).verify(token);
    if ("refused" in link) throw new ValidationError([`token: ${link.refused}`]);
    return { run: redactRun(await this.stored(link.run)), expiresAt: link.expiresAt, nonce: link.nonce };
  }

  /** Approves or rejects through an approve link: it works once, before it expires. */
  async decideByLink(token: string, approve: boolean): Promise<PlaybookRun> {
    const { run, expiresAt, nonce } = await this.linked(token);
    if (!(await this.store.useLink(nonce, expiresAt - Date.now()))) throw new ValidationError(["token: this approve link was used already"]);
    const decision: Decision = { by: "approve link", via: "link" };
    return approve ? this.approve(run.id, decision) : this.reject(run.id, decision);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  /** The open automatic incident, which a run without one of its own would have reported to. */
  private async openAutomaticIncident(): Promise<string | undefined> {
    const id = await this.status.store.automaticIncidentId();
    const incident = id ? await this.status.store.incident(id) : undefined;
    return incident && isUnresolved(incident) ? incident.id : undefined;
  }

  private async decide(id: string, state: "rejected" | "expired", decision: { by?: string; via: DecisionVia | "timeout" }): Promise<PlaybookRun | undefined> {
    for (let attempt = 1; ; attempt++) {
      const run = await this.store.run(id);
      if (!run) throw new NotFoundError(`playbook run ${id}`);
      if (run.state !== "awaiting_approval") return undefined;
      const approval = { ...run.approval!, decision: state, by: decision.by, via: decision.via, decided_at: new Date().toISOString() };
      const outcome = state === "rejected" ? `Rejected by ${decision.by ?? "a person"}; nothing was done.` : "Nobody approved it in time; nothing was done.";
      try {
        return await this.store.finish({ ...run, approval, outcome }, state, false);
      } catch (err) {
        if (!(err instanceof RunConflict) || attempt >= 10) throw err;
      }
    }
  }

  private async stored(id: string): Promise<PlaybookRun> {
    const run = await this.store.run(id);
    if (!run) throw new NotFoundError(`playbook run ${id}`);
    return run;
  }

  private configOf(id: string): PlaybookConfig {
    const playbook = this.options.config().playbooks.find((p) => p.id === id);
    if (!playbook) throw new NotFoundError(`playbook ${id}`);
    return playbook;
  }

  private async view(playbook: PlaybookConfig, overrides: Map<string, boolean>): Promise<PlaybookView> {
    const config = this.options.config();
    const nameOf = (kind: "component" | "probe", id: string) =>
      (kind === "component" ? config.components.find((c) => c.id === id)?.name : config.probes.find((p) => p.id === id)?.name) ?? id;
    const [state, last] = await Promise.all([this.store.state(playbook.id), this.store.recentRuns({ playbook: playbook.id, limit: 1 })]);
    const flags = { enabled: overrides.get(playbook.id) ?? playbook.enabled, toggled: overrides.has(playbook.id) };
    return {
      id: playbook.id,
      name: playbook.name,
      ...flags,
      mode: playbook.mode,
      target: playbook.target,
      trigger: describeTrigger(playbook.trigger, nameOf),
      steps: playbook.steps.map((s) => s.action),
      state,
      holding: await readHolding(this.store, playbook, state, flags),
      last_run: last[0] ? redactRun(last[0]) : null,
      config: redactPlaybook(playbook),
    };
  }
}
