import { z } from "zod";
import type { ComponentStatus, duration, id } from "./schema.ts";
import type { KindSchemas } from "./resolve.ts";
import { formatIssues, formatPath, suggestKeys } from "./issues.ts";
import { didYouMean, noSuchId } from "./closest.ts";

/**
 * `playbooks:` in pulseboard.yaml: a trigger, guarded steps, what to do on
 * failure, how to restore once the trigger is clear, and the mode. Each step's
 * own settings are checked by its step's schema (src/playbooks/steps/), which
 * config receives as `playbookSteps` the way it receives probe kinds.
 */

/** Every step action a playbook may name; src/playbooks/steps/ has one file per action. */
export const PLAYBOOK_ACTIONS = [
  "restart-gateway",
  "bypass-cache",
  "restore-cache",
  "scale-out",
  "scale-in",
  "wait",
  "verify",
  "notify",
  "webhook",
  "command",
] as const;
export type PlaybookAction = (typeof PLAYBOOK_ACTIONS)[number];

/** Gateway stats a trigger may watch (read from the fleet driver's stats()). */
export const GATEWAY_STATS = ["connections_ratio", "connections", "ready_nodes", "failing_nodes", "stuck_nodes"] as const;
export type GatewayStat = (typeof GATEWAY_STATS)[number];

export const PLAYBOOK_MODES = ["auto", "approve", "dry-run"] as const;
export type PlaybookMode = (typeof PLAYBOOK_MODES)[number];

/** What a probe trigger watches: the probe's state across its locations (quorum applied). */
export const PROBE_TRIGGER_STATES = ["down", "degraded"] as const;

/** What a step's settings name elsewhere in the config, so a typo is a config error. */
export interface StepReference {
  /** Path inside the step's settings, like `["probes", 1]`. */
  path: (string | number)[];
  kind: "probe" | "channel" | "component";
  id: string;
}

/** The playbook step kinds that exist: their schemas, and what their settings refer to. */
export interface PlaybookStepKinds extends KindSchemas {
  references(action: string, settings: unknown): StepReference[];
}

/** One step as written: its action and its settings (parsed by the step's schema when it runs). */
export interface PlaybookStepConfig {
  action: PlaybookAction;
  /** The settings as written, without `action` (durations still as text). */
  settings: Record<string, unknown>;
}

export type PlaybookTrigger =
  /** A component's computed status at least as bad as `status`. */
  | { kind: "component"; component: string; status: ComponentStatus; forMs: number }
  /** A probe's state across its locations at least as bad as `status`. */
  | { kind: "probe"; probe: string; status: (typeof PROBE_TRIGGER_STATES)[number]; forMs: number }
  /** A gateway stat above or below a bound. */
  | { kind: "stat"; stat: GatewayStat; above?: number; below?: number; forMs: number };

/** A playbook with defaults applied and every reference checked. */
export interface PlaybookConfig {
  id: string;
  name: string;
  enabled: boolean;
  mode: PlaybookMode;
  trigger: PlaybookTrigger;
  /** What the playbook acts on; one run at a time per target. @defaultValue "gateway" */
  target: string;
  /** Components whose maintenance windows hold the playbook (default: what the trigger watches). */
  components: string[];
  guards: {
    cooldownMs: number;
    maxRuns: number;
    perMs: number;
    holdInMaintenance: boolean;
    /** After a successful run, no new run until the trigger has cleared. */
    oncePerEpisode: boolean;
  };
  steps: PlaybookStepConfig[];
  onFailure: { escalate: string[]; steps: PlaybookStepConfig[] };
  /** Steps run once the trigger has been clear for `afterMs` after a successful run. */
  restore?: { afterMs: number; steps: PlaybookStepConfig[] };
  approval: { timeoutMs: number; channels: string[] };
}

interface Fields {
  id: typeof id;
  duration: typeof duration;
}

const atLeastOne = { error: "must be ≥ 1" };

/**
 * The schema of one `playbooks[]` entry. A factory, so it can use the shared
 * field schemas of schema.ts without this file importing it (a cycle).
 */
export function playbookEntrySchema(f: Fields) {
  // The action is checked when the steps are resolved, so every step's problems are reported at once.
  const step = z.looseObject({ action: z.string({ error: "name the step's action, like restart-gateway" }) });
  const steps = z.array(step, { error: "expected a list of steps like [{ action: restart-gateway }]" });
  return z.strictObject({
    id: f.id,
    /** Shown in the admin API, posts and timeline entries. @defaultValue the id */
    name: z.string().min(1).max(100).optional(),
    enabled: z.boolean().default(true),
    mode: z.enum(PLAYBOOK_MODES, { error: 'expected "auto", "approve" or "dry-run"' }).default("auto"),
    trigger: z.strictObject({
      component: f.id.optional(),
      probe: f.id.optional(),
      stat: z.enum(GATEWAY_STATS, { error: `expected a gateway stat: ${GATEWAY_STATS.join(", ")}` }).optional(),
      status: z.string().optional(),
      above: z.number({ error: "expected a number" }).min(0, { error: "must be ≥ 0" }).optional(),
      below: z.number({ error: "expected a number" }).min(0, { error: "must be ≥ 0" }).optional(),
      /** How long the condition must hold before a run starts. @defaultValue 0 (at once) */
      for: f.duration.optional(),
    }),
    /** What the playbook acts on: one run at a time per target. @defaultValue "gateway" */
    target: f.id.default("gateway"),
    components: z.array(f.id).optional(),
    guards: z
      .strictObject({
        /** After a run ends, no new run before this. @defaultValue 5m */
        cooldown: f.duration.default(5 * 60_000),
        /** At most this many runs within `per`. @defaultValue 3 per 1h */
        max_runs: z.number({ error: "expected a whole number" }).int({ error: "expected a whole number" }).min(1, atLeastOne).default(3),
        per: f.duration.default(3_600_000),
        /** Held while a maintenance window covers one of the playbook's components. @defaultValue true */
        hold_in_maintenance: z.boolean().default(true),
        /**
         * After a successful run, no new run until the trigger has cleared:
         * for a mitigation that holds while its cause lasts (a cache bypass
         * while the cache is down), which running again would only repeat.
         * @defaultValue false
         */
        once_per_episode: z.boolean().default(false),
      })
      .prefault({}),
    steps: steps.min(1, { error: "a playbook needs at least one step" }),
    on_failure: z
      .strictObject({
        /** Channels paged (high urgency) once when a step or its verify fails. */
        escalate: z.array(f.id).default([]),
        /** Fallback steps run after the escalation. */
        steps: steps.default([]),
      })
      .prefault({}),
    restore: z
      .strictObject({
        /** How long the trigger must have been clear. @defaultValue 30s */
        after: f.duration.default(30_000),
        steps: steps.min(1, { error: "restore needs at least one step" }),
      })
      .optional(),
    approval: z
      .strictObject({
        /** A run not approved within this expires. @defaultValue 10m */
        timeout: f.duration.default(10 * 60_000),
        /** Where the proposed run is posted with its approve link. */
        channels: z.array(f.id).default([]),
      })
      .prefault({}),
  });
}

export type PlaybookEntry = z.output<ReturnType<typeof playbookEntrySchema>>;

export interface PlaybookContext {
  componentIds: Set<string>;
  probeIds: Set<string>;
  channelIds: Set<string>;
  /** Probe id → the components it feeds (a probe trigger is held by their maintenance). */
  probeComponents: Map<string, string[]>;
  statuses: readonly ComponentStatus[];
  stepKinds?: PlaybookStepKinds;
  problems: string[];
}

/** Checks every playbook's trigger, steps and references; problems name the field. */
export function resolvePlaybooks(entries: PlaybookEntry[], ctx: PlaybookContext, at: (i: number) => string = (i) => `playbooks[${i}]`): PlaybookConfig[] {
  return entries.map((entry, i) => resolvePlaybook(entry, at(i), ctx));
}

function resolvePlaybook(entry: PlaybookEntry, at: string, ctx: PlaybookContext): PlaybookConfig {
  const trigger = resolveTrigger(entry.trigger, `${at}.trigger`, ctx);
  const components = entry.components ?? triggerComponents(trigger, ctx);
  entry.components?.forEach((c, j) => checkId(ctx.componentIds, c, `${at}.components[${j}]`, "component", ctx.problems));
  entry.on_failure.escalate.forEach((c, j) => checkId(ctx.channelIds, c, `${at}.on_failure.escalate[${j}]`, "channel", ctx.problems));
  entry.approval.channels.forEach((c, j) => checkId(ctx.channelIds, c, `${at}.approval.channels[${j}]`, "channel", ctx.problems));
  if (entry.mode === "approve" && entry.approval.timeout < 10_000) ctx.problems.push(`${at}.approval.timeout: must be at least 10s, or nobody can approve in time`);
  return {
    id: entry.id,
    name: entry.name ?? entry.id,
    enabled: entry.enabled,
    mode: entry.mode,
    trigger,
    target: entry.target,
    components,
    guards: {
      cooldownMs: entry.guards.cooldown,
      maxRuns: entry.guards.max_runs,
      perMs: entry.guards.per,
      holdInMaintenance: entry.guards.hold_in_maintenance,
      oncePerEpisode: entry.guards.once_per_episode,
    },
    steps: resolveSteps(entry.steps, `${at}.steps`, ctx),
    onFailure: { escalate: entry.on_failure.escalate, steps: resolveSteps(entry.on_failure.steps, `${at}.on_failure.steps`, ctx) },
    restore: entry.restore ? { afterMs: entry.restore.after, steps: resolveSteps(entry.restore.steps, `${at}.restore.steps`, ctx) } : undefined,
    approval: { timeoutMs: entry.approval.timeout, channels: entry.approval.channels },
  };
}

function resolveTrigger(raw: PlaybookEntry["trigger"], at: string, ctx: PlaybookContext): PlaybookTrigger {
  const { problems } = ctx;
  const forMs = raw.for ?? 0;
  const named = [raw.component !== undefined && "component", raw.probe !== undefined && "probe", raw.stat !== undefined && "stat"].filter(Boolean);
  if (named.length !== 1) {
    problems.push(`${at}: name exactly one of component, probe or stat${named.length > 1 ? ` (got ${named.join(" and ")})` : ""}`);
  }
  if (raw.stat !== undefined) {
    if ((raw.above === undefined) === (raw.below === undefined)) problems.push(`${at}: a stat trigger needs exactly one bound, above or below`);
    if (raw.status !== undefined) problems.push(`${at}.status: a stat trigger has no status; give above or below`);
    if (raw.stat === "connections_ratio" && ((raw.above ?? 0) > 1 || (raw.below ?? 0) > 1)) problems.push(`${at}.${raw.above !== undefined ? "above" : "below"}: connections_ratio is a share of the limit, from 0 to 1 (0.8 is 80 %)`);
    return { kind: "stat", stat: raw.stat, above: raw.above, below: raw.below, forMs };
  }
  if (raw.above !== undefined || raw.below !== undefined) problems.push(`${at}: above and below go with a stat trigger`);
  if (raw.probe !== undefined) {
    checkId(ctx.probeIds, raw.probe, `${at}.probe`, "probe", problems);
    const status = raw.status ?? "down";
    if (!(PROBE_TRIGGER_STATES as readonly string[]).includes(status)) problems.push(`${at}.status: a probe trigger watches "down" or "degraded", got "${status}"`);
    return { kind: "probe", probe: raw.probe, status: status as "down" | "degraded", forMs };
  }
  const component = raw.component ?? "";
  if (raw.component !== undefined) checkId(ctx.componentIds, component, `${at}.component`, "component", problems);
  const status = raw.status ?? "major_outage";
  const worse = ctx.statuses.filter((s) => s !== "operational" && s !== "under_maintenance");
  if (!(worse as readonly string[]).includes(status)) problems.push(`${at}.status: expected a component status worse than operational: ${worse.join(", ")}; got "${status}"`);
  return { kind: "component", component, status: status as ComponentStatus, forMs };
}

function triggerComponents(trigger: PlaybookTrigger, ctx: PlaybookContext): string[] {
  if (trigger.kind === "component") return [trigger.component];
  if (trigger.kind === "probe") return ctx.probeComponents.get(trigger.probe) ?? [];
  return [];
}

function resolveSteps(raw: { action: string }[], at: string, ctx: PlaybookContext): PlaybookStepConfig[] {
  return raw.map((step, j) => {
    const { action, ...settings } = step as { action: PlaybookAction } & Record<string, unknown>;
    const where = `${at}[${j}]`;
    const kinds = ctx.stepKinds;
    if (!(PLAYBOOK_ACTIONS as readonly string[]).includes(action)) {
      ctx.problems.push(`${where}.action: expected a step action: ${PLAYBOOK_ACTIONS.join(", ")}; got "${action}"${didYouMean(action, PLAYBOOK_ACTIONS)}`);
    } else if (kinds) {
      const schema = kinds.schema(action);
      if (!schema) {
        ctx.problems.push(`${where}.action: no step implements "${action}" (known: ${kinds.kinds().join(", ")})`);
      } else {
        const parsed = schema.safeParse(settings, { error: suggestKeys });
        if (!parsed.success) ctx.problems.push(...formatIssues(parsed.error.issues, where));
        else checkReferences(kinds.references(action, parsed.data), where, ctx);
      }
    }
    return { action, settings };
  });
}

function checkReferences(references: StepReference[], at: string, ctx: PlaybookContext): void {
  const known = { probe: ctx.probeIds, channel: ctx.channelIds, component: ctx.componentIds };
  for (const ref of references) checkId(known[ref.kind], ref.id, `${at}.${formatPath(ref.path)}`, ref.kind, ctx.problems);
}

function checkId(known: Set<string>, id: string, at: string, what: string, problems: string[]): void {
  if (!known.has(id)) problems.push(`${at}: ${noSuchId(what, id, known)}`);
}
