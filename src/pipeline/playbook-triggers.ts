import { formatDuration, type Config, type PlaybookConfig, type PlaybookTrigger } from "../config/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import type { FleetDriver, FleetStats } from "../fleet/index.ts";
import {
  crosses,
  describeTrigger,
  isTerminal,
  newRun,
  quorumSince,
  statValue,
  type HoldGuard,
  type Observation,
  type PlaybookRun,
  type PlaybookState,
  type PlaybookStore,
  type RunKind,
} from "../playbooks/index.ts";
import { componentsInMaintenance, isUnresolved, severityOf, type ComponentState, type StatusContext } from "../status/index.ts";

/** What the evaluation decided for one playbook (for logs and tests). */
export interface TriggerVerdict {
  playbook: string;
  /** disabled, clear, waiting (not for long enough yet), tripped, mitigated, held, busy, refused:<guard>, started, unknown */
  outcome: string;
  run?: string;
}

export interface TriggerEvaluatorOptions {
  config: () => Config;
  status: StatusContext;
  store: PlaybookStore;
  fleet: FleetDriver;
  log: Logger;
  /** A run was claimed: queue it, or ask for its approval. */
  started(run: PlaybookRun): Promise<void>;
  /** The playbook's run in progress, looked at on every evaluation: its job may need queueing again. */
  watch(run: PlaybookRun): Promise<void>;
}

/** What one evaluation reads at most once, whatever the number of playbooks. */
interface Snapshot {
  components: Map<string, ComponentState>;
  inMaintenance: Set<string>;
  overrides: Map<string, boolean>;
  stats(): Promise<FleetStats | undefined>;
}

const UNREADABLE = "cannot read the gateway's stats";

const STATUS_WORDS: Record<string, string> = {
  operational: "is operational",
  under_maintenance: "is under maintenance",
  degraded_performance: "is degraded",
  partial_outage: "is in partial outage",
  major_outage: "is in major outage",
};

/** A hold about to be recorded: what held which run back, in this evaluation. */
interface HoldNote {
  playbook: PlaybookConfig;
  kind: RunKind;
  guard: HoldGuard;
  reason: string;
  until?: string;
  observation: Observation;
  since?: number;
  /** The incident the run would report to, when the caller knows it. */
  incident?: string;
}

/** How long after the worker starts a gateway that does not answer yet is expected, not a problem. */
const STARTUP_GRACE_MS = 30_000;

/**
 * Decides which playbooks start a run: a trigger whose condition has held for
 * its duration, not held by a maintenance window, and not stopped by a
 * failure that has not cleared yet; the guards (one run at a time, cooldown,
 * max runs) are applied atomically by the claim. A successful run's restore
 * starts once the trigger has been clear for its duration. Run on every
 * component change and on a clock (for durations and gateway stats); safe
 * in any number of workers at once.
 */
export class TriggerEvaluator {
  private readonly log: Logger;
  /** Problems reading gateway stats already warned of, so each is logged once until it clears. */
  private readonly troubles = new Set<string>();
  private readonly startedAt = Date.now();
  /** The last hold recorded per playbook (and whether it names its incident), so a trigger firing every tick writes it once. */
  private readonly noted = new Map<string, { id: string; incident?: string }>();

  constructor(private readonly options: TriggerEvaluatorOptions) {
    this.log = options.log.child({ module: "pipeline.playbook-triggers" });
  }

  async evaluate(now = Date.now(), hint: { incident?: string } = {}): Promise<TriggerVerdict[]> {
    const config = this.options.config();
    if (config.playbooks.length === 0) return [];
    const snapshot = await this.snapshot();
    const verdicts: TriggerVerdict[] = [];
    for (const playbook of config.playbooks) {
      try {
        verdicts.push({ playbook: playbook.id, ...(await this.consider(playbook, snapshot, now, hint)) });
      } catch (err) {
        this.log.warn({ playbook: playbook.id, err: describeError(err) }, "cannot evaluate the playbook's trigger");
        verdicts.push({ playbook: playbook.id, outcome: "error" });
      }
    }
    return verdicts;
  }

  private async consider(playbook: PlaybookConfig, snapshot: Snapshot, now: number, hint: { incident?: string }): Promise<Omit<TriggerVerdict, "playbook">> {
    const { store } = this.options;
    if (!(snapshot.overrides.get(playbook.id) ?? playbook.enabled)) return { outcome: "disabled" };
    const observation = await this.observe(playbook, snapshot, now);
    if (!observation) return { outcome: "unknown" };
    const state = await store.state(playbook.id);
    const held = this.holdReason(playbook, snapshot);

    if (!observation.active) {
      const clearSince = await store.clearSince(playbook.id, now);
      if (!held && state.held) await store.setHeld(playbook.id, undefined);
      const restore = playbook.restore;
      if (!state.restore_pending || !restore) return { outcome: "clear" };
      if (now - clearSince < restore.afterMs) return { outcome: "clear" };
      const recovery = await store.run(state.restore_pending);
      if (held) return this.hold({ playbook, kind: "restore", guard: "maintenance", reason: held, observation, since: clearSince, incident: recovery?.incident }, state);
      const description = `${describeTrigger(playbook.trigger, this.nameOf)}: clear for ${Math.round((now - clearSince) / 1_000)} s`;
      return this.start(playbook, "restore", { ...observation, description }, clearSince, state, now, recovery?.incident);
    }

    if (state.clear_since !== undefined) await store.notClear(playbook.id);
    // One episode from the first evaluation that saw the trigger firing until it clears, whatever the
    // component does meanwhile (major outage, then partial as a repair takes hold): a status change late in
    // a repair is not a new condition, so the run that answered the episode is not "held back" by its cooldown.
    const since = await store.firingSince(playbook.id, observation.since ?? now);
    if (now - since < playbook.trigger.forMs) return { outcome: "waiting" };
    if (state.tripped) {
      await this.noteHold({ playbook, kind: "recovery", guard: "tripped", reason: `its run ${state.tripped} failed: no new run until its trigger clears (or it is enabled again)`, observation, since, incident: hint.incident });
      return { outcome: "tripped", run: state.tripped };
    }
    if (state.mitigated) return { outcome: "mitigated", run: state.mitigated };
    if (held) return this.hold({ playbook, kind: "recovery", guard: "maintenance", reason: held, observation, since, incident: hint.incident }, state);
    if (state.held) await store.setHeld(playbook.id, undefined);
    return this.start(playbook, "recovery", observation, since, state, now, hint.incident);
  }

  private async start(
    playbook: PlaybookConfig,
    kind: RunKind,
    observation: Observation,
    since: number,
    state: PlaybookState,
    now: number,
    incident?: string,
  ): Promise<Omit<TriggerVerdict, "playbook">> {
    const { store } = this.options;
    if (state.active) {
      const active = await store.run(state.active);
      if (active && !isTerminal(active.state)) {
        await this.options.watch(active);
        return { outcome: "busy", run: state.active };
      }
      // Its record is gone, or it ended after `state` was read (its restore done, its cooldown begun):
      // free the playbook and decide on the next evaluation, from state read after the end.
      await store.release(playbook.id, state.active);
      return { outcome: "busy", run: state.active };
    }
    const lasted = Math.round((now - since) / 1_000);
    const description = kind === "recovery" && lasted > 0 ? `${observation.description} (for ${lasted} s)` : observation.description;
    const run = newRun(playbook, kind, { description, since: new Date(since).toISOString(), observed: observation.observed, at: new Date(now).toISOString() }, { incident, now });
    const claim = await store.claim(run, playbook.guards, now);
    if (!claim.claimed) {
      if (claim.guard === "busy") return { outcome: "busy", run: claim.detail };
      const until = Number(claim.detail) ? new Date(Number(claim.detail)).toISOString() : undefined;
      await store.setRefused(playbook.id, { guard: claim.guard, until, at: new Date(now).toISOString() });
      const { guards } = playbook;
      const reason =
        claim.guard === "cooldown"
          ? `its cooldown (${formatDuration(guards.cooldownMs)} after its last run) lasts until ${until ?? "later"}`
          : `it ran ${guards.maxRuns} ${guards.maxRuns === 1 ? "time" : "times"} within ${formatDuration(guards.perMs)} already (max runs), until ${until ?? "later"}`;
      // A condition that began before the last run ended is the one that run answered (its probes still on their way back up): not a run held back.
      const answered = kind === "recovery" && state.last_ended_at !== undefined && since < state.last_ended_at;
      if (!answered) await this.noteHold({ playbook, kind, guard: claim.guard, reason, until, observation, since, incident });
      return { outcome: `refused:${claim.guard}` };
    }
    this.log.warn({ playbook: playbook.id, run: run.id, kind, mode: run.mode, trigger: description }, "playbook run started");
    await this.options.started(claim.run);
    return { outcome: "started", run: run.id };
  }

  private async hold(note: HoldNote, state: PlaybookState): Promise<Omit<TriggerVerdict, "playbook">> {
    if (!state.held) await this.options.store.setHeld(note.playbook.id, { reason: note.reason, since: new Date().toISOString() });
    await this.noteHold(note);
    return { outcome: "held" };
  }

  /**
   * Records that a guard held a run back (the admin API's
   * /playbooks/holds, which `pulseboard chaos` reads), once per guard and
   * trigger episode, with the incident the run would have reported to: the
   * one given, else the open automatic incident. A hold noted before its
   * incident opened gets the incident once it is open.
   */
  private async noteHold(note: HoldNote): Promise<void> {
    const { holds } = this.options.store;
    const { playbook, kind, guard } = note;
    const id = [playbook.id, kind, guard, note.since ?? "", note.until ?? ""].join(".");
    const before = this.noted.get(playbook.id);
    if (before?.id === id && before.incident) return;
    const incident = note.incident ?? (await this.openAutomaticIncident());
    if (before?.id === id) {
      if (incident) await holds.attachIncident(id, incident);
      this.noted.set(playbook.id, { id, incident });
      return;
    }
    const at = new Date().toISOString();
    const since = note.since === undefined ? undefined : new Date(note.since).toISOString();
    const added = await holds.record({ id, playbook: playbook.id, name: playbook.name, kind, guard, reason: note.reason, until: note.until, incident, trigger: note.observation.description, since, at });
    if (!added && incident) await holds.attachIncident(id, incident);
    this.noted.set(playbook.id, { id, incident });
    if (added) this.log.info({ playbook: playbook.id, kind, guard, until: note.until, incident, reason: note.reason }, "playbook trigger fired, but a guard holds the run back");
  }

  private async openAutomaticIncident(): Promise<string | undefined> {
    const store = this.options.status.store;
    const id = await store.automaticIncidentId();
    const incident = id ? await store.incident(id) : undefined;
    return incident && isUnresolved(incident) ? incident.id : undefined;
  }

  private holdReason(playbook: PlaybookConfig, snapshot: Snapshot): string | undefined {
    if (!playbook.guards.holdInMaintenance) return undefined;
    const covered = playbook.components.filter((c) => snapshot.inMaintenance.has(c));
    return covered.length > 0 ? `maintenance window in progress for ${covered.map((c) => this.nameOf("component", c)).join(", ")}` : undefined;
  }

  private async observe(playbook: PlaybookConfig, snapshot: Snapshot, now: number): Promise<Observation | undefined> {
    const trigger: PlaybookTrigger = playbook.trigger;
    if (trigger.kind === "component") {
      const state = snapshot.components.get(trigger.component);
      const status = state?.status ?? "operational";
      const active = state !== undefined && status !== "under_maintenance" && severityOf(status) >= severityOf(trigger.status);
      return {
        active,
        since: active ? Date.parse(state.since) : undefined,
        observed: { component: trigger.component, status, reason: state?.reason },
        description: `${this.nameOf("component", trigger.component)} ${STATUS_WORDS[status]}${state?.reason ? `: ${state.reason}` : ""}`,
      };
    }
    if (trigger.kind === "probe") {
      const probe = this.options.config().probes.find((p) => p.id === trigger.probe);
      if (!probe || !probe.enabled) return { active: false, observed: { probe: trigger.probe, enabled: false }, description: `${trigger.probe} is not running` };
      const states = await this.options.status.store.probeStates(probe.id);
      const locations = probe.locations.map((l) => {
        const s = states.get(l);
        const bad = s !== undefined && (trigger.status === "down" ? s.state === "down" : s.state !== "up");
        return { location: l, state: s?.state ?? "up", bad, since: s?.since ?? new Date(now).toISOString() };
      });
      const since = quorumSince(locations, probe.quorum);
      const failing = locations.filter((l) => l.bad).map((l) => l.location);
      return {
        active: since !== undefined,
        since,
        observed: { probe: probe.id, locations: Object.fromEntries(locations.map((l) => [l.location, l.state])) },
        description: failing.length > 0 ? `${probe.name} ${trigger.status === "down" ? "failing" : "degraded or failing"} from ${failing.join(", ")}` : `${probe.name} passing`,
      };
    }
    const stats = await snapshot.stats();
    if (!stats) return undefined;
    const value = statValue(stats, trigger.stat);
    const missing = `the fleet does not report ${trigger.stat} (a node's connection limit is unknown)`;
    if (value === undefined) {
      this.trouble(missing);
      return undefined;
    }
    this.cleared(missing);
    const active = crosses(trigger, value);
    const shown = trigger.stat === "connections_ratio" ? `${Math.round(value * 1000) / 10} % of the connection limit` : String(value);
    const bound = trigger.above !== undefined ? `above ${trigger.above}` : `below ${trigger.below}`;
    return {
      active,
      since: active ? await this.options.store.firingSince(playbook.id, now) : undefined,
      observed: { stat: trigger.stat, value, above: trigger.above, below: trigger.below, connections: stats.connections, limit: stats.limit, nodes: stats.nodes.length },
      description: `Gateway ${trigger.stat.replace(/_/g, " ")} ${active ? "is" : "is not"} ${bound}: ${shown} (${stats.connections} connections on ${stats.nodes.length} nodes)`,
    };
  }

  private async snapshot(): Promise<Snapshot> {
    const { status, store, fleet } = this.options;
    const [components, maintenances, overrides] = await Promise.all([status.store.components(), status.store.openMaintenances(), store.overrides()]);
    let stats: Promise<FleetStats | undefined> | undefined;
    return {
      components,
      inMaintenance: componentsInMaintenance(maintenances),
      overrides,
      stats: () =>
        (stats ??= fleet.stats({ signal: AbortSignal.timeout(3_000), dryRun: false }).then(
          (s) => {
            this.cleared(UNREADABLE);
            return s;
          },
          (err: unknown) => {
            this.trouble(UNREADABLE, describeError(err));
            return undefined;
          },
        )),
    };
  }

  /**
   * Logs a problem evaluating a stat trigger once, not on every tick. While
   * the stack starts (the gateway fleet comes up after the worker), it is
   * only a debug line; one that outlasts the start-up is a warning.
   */
  private trouble(problem: string, detail?: string): void {
    if (this.troubles.has(problem)) return;
    if (Date.now() - this.startedAt < STARTUP_GRACE_MS) {
      this.log.debug({ problem, detail }, "a gateway stat trigger cannot be evaluated yet (starting up)");
      return;
    }
    this.troubles.add(problem);
    this.log.warn({ problem, detail }, "a gateway stat trigger cannot be evaluated");
  }

  private cleared(problem: string): void {
    if (this.troubles.delete(problem)) this.log.info({ problem }, "a gateway stat trigger can be evaluated again");
  }

  private readonly nameOf = (kind: "component" | "probe", id: string): string => {
    const config = this.options.config();
    return (kind === "component" ? config.components.find((c) => c.id === id)?.name : config.probes.find((p) => p.id === id)?.name) ?? id;
  };
}
