import { DEFAULT_WORDING, type ComponentConfig, type EffectStatus, type IncidentPhase, type Wording } from "../config/index.ts";
import type { ComponentStatus } from "./model.ts";

/** What the public wording of automatic incidents is made from. */
export interface WordingConfig {
  page: { name: string };
  components: Pick<ComponentConfig, "id" | "name" | "wording">[];
  wording: Wording;
}

/** One affected component: its status now and, when known, what its failing probe says it does wrong. */
export interface AffectedNow {
  id: string;
  status: ComponentStatus;
  /** The failing probe's plain-words effect, with `{name}` for the component ("New connections to {name} are failing."). */
  effect?: string;
}

/**
 * The public entry of an automatic incident in one phase, in plain words:
 * the first affected component's own template for the phase, else the
 * page's, else the default. `{effects}` says, for each component not
 * operational, what it does wrong: the component's wording for its status,
 * else its failing probe's, else the page's, else the default.
 */
export function publicText(config: WordingConfig, phase: IncidentPhase, affected: AffectedNow[]): string {
  const named = affected.map((a) => ({ ...a, config: config.components.find((c) => c.id === a.id) }));
  const names = named.map((a) => a.config?.name ?? "the service");
  const template = named[0]?.config?.wording?.[phase] ?? config.wording[phase] ?? DEFAULT_WORDING[phase];
  const effects = named
    .filter((a) => a.status !== "operational" && a.status !== "under_maintenance")
    .map((a) => fill(a.config?.wording?.[a.status as EffectStatus] ?? a.effect ?? config.wording[a.status as EffectStatus] ?? DEFAULT_WORDING[a.status as EffectStatus], { name: a.config?.name ?? "The service", page: config.page.name }));
  const plural = names.length > 1;
  const text = fill(template, {
    components: listOf(names),
    effects: effects.join(" ") || `${capitalize(listOf(names))} ${plural ? "are" : "is"} not working as it should.`,
    is: plural ? "are" : "is",
    has: plural ? "have" : "has",
    page: config.page.name,
  });
  return capitalize(text.replace(/\s+/g, " ").trim());
}

/** Replaces each `{placeholder}` (checked when the config was loaded) with its value. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** Names as a sentence lists them: "Chat", "Chat and Q&A", "Chat, Q&A and Cache". */
export function listOf(names: string[]): string {
  if (names.length <= 1) return names[0] ?? "the service";
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
