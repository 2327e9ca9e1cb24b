import type { ComponentConfig } from "../config/index.ts";
import {
  componentsInMaintenance,
  currentImpact,
  effectiveStatus,
  impactOf,
  worseImpact,
  worstStatus,
  type ComponentState,
  type ComponentStatus,
  type Incident,
  type IncidentImpact,
  type Maintenance,
} from "./model.ts";
import { publicIncident } from "./public-view.ts";
import type { StatusContext } from "./verbs/context.ts";

export interface ComponentView {
  config: ComponentConfig;
  /** Position on the page, from 1, in config order. */
  position: number;
  /** What customers see: the worse of the computed status and any unresolved incident's. */
  status: ComponentStatus;
  /** What the pipeline computed from probe results, if it has yet. */
  computed?: ComponentState;
}

export type Indicator = IncidentImpact | "maintenance";

/** Everything the public page shows, read in a few round trips. */
export interface StatusSummary {
  generated_at: string;
  /** Latest change of anything shown. */
  updated_at: string;
  components: ComponentView[];
  unresolved: Incident[];
  recent: Incident[];
  /** Maintenance windows scheduled or in progress, soonest first. */
  maintenances: Maintenance[];
  indicator: Indicator;
  description: string;
}

const DESCRIPTIONS: Record<Indicator, string> = {
  none: "All Systems Operational",
  minor: "Minor Service Outage",
  major: "Partial System Outage",
  critical: "Major Service Outage",
  maintenance: "Service Under Maintenance",
};

/**
 * Reads the public state of the page: incidents as the public sees them
 * (no on-call-only entries, no technical details). `recentLimit` bounds the
 * incident history read.
 */
export async function readSummary(ctx: StatusContext, recentLimit = 50): Promise<StatusSummary> {
  const [states, unresolvedStored, recentStored, maintenances] = await Promise.all([
    ctx.store.components(),
    ctx.store.unresolvedIncidents(),
    ctx.store.recentIncidents(recentLimit),
    ctx.store.openMaintenances(),
  ]);
  const unresolved = unresolvedStored.map(publicIncident);
  const recent = recentStored.map(publicIncident);
  const generatedAt = (ctx.now?.() ?? new Date()).toISOString();
  const underMaintenance = componentsInMaintenance(maintenances);
  const review = ctx.publish === "review";
  const components = ctx.components.map((config, i) => viewOf(config, i + 1, states.get(config.id), unresolved, underMaintenance.has(config.id), review));
  const indicator = indicatorOf(components.map((c) => c.status), unresolved);
  const stamps = [
    ...components.map((c) => c.computed?.updated_at ?? ""),
    ...unresolved.map((i) => i.updated_at),
    ...recent.slice(0, 1).map((i) => i.updated_at),
    ...maintenances.map((m) => m.updated_at),
  ].filter(Boolean);
  return {
    generated_at: generatedAt,
    updated_at: stamps.sort().at(-1) ?? generatedAt,
    components,
    unresolved,
    recent,
    maintenances,
    indicator,
    description: DESCRIPTIONS[indicator],
  };
}

function viewOf(config: ComponentConfig, position: number, computed: ComponentState | undefined, unresolved: Incident[], inMaintenance: boolean, review: boolean): ComponentView {
  return { config, position, status: effectiveStatus(config.id, computed, unresolved, inMaintenance, review), computed };
}

function indicatorOf(statuses: ComponentStatus[], unresolved: Incident[]): Indicator {
  let worst: IncidentImpact = impactOf(worstStatus(statuses));
  // The page says how things are now, not the worst an incident reached.
  for (const incident of unresolved) worst = worseImpact(worst, currentImpact(incident));
  if (worst === "none" && statuses.includes("under_maintenance")) return "maintenance";
  return worst;
}
