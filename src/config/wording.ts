import { z } from "zod";
import { didYouMean } from "./closest.ts";

/**
 * The words an automatic incident says on the public page, per incident
 * status. Each is plain text with placeholders in braces:
 * - `{components}`: the affected components' names ("Chat and Q&A");
 * - `{effects}`: what each affected component does wrong now, one sentence
 *   each ("New connections to Chat are failing."), from the component's own
 *   wording or the probes that found it;
 * - `{is}` / `{has}`: "is" or "are", "has" or "have", as `{components}` needs;
 * - `{page}`: the page's name.
 */
export const INCIDENT_PHASES = ["investigating", "identified", "monitoring", "resolved"] as const;
export type IncidentPhase = (typeof INCIDENT_PHASES)[number];

/** What a component's outage is called in `{effects}`, per component status. */
export const EFFECT_STATUSES = ["degraded_performance", "partial_outage", "major_outage"] as const;
export type EffectStatus = (typeof EFFECT_STATUSES)[number];

export const PLACEHOLDERS = ["components", "effects", "is", "has", "page", "name"] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** Placeholders an effect phrase may use: it is about one component. */
const EFFECT_PLACEHOLDERS: readonly Placeholder[] = ["name", "page"];
const PHASE_PLACEHOLDERS: readonly Placeholder[] = ["components", "effects", "is", "has", "page"];

/** Every default, in plain words a customer reads (Statuspage's own phrasing, roughly). */
export const DEFAULT_WORDING: Record<IncidentPhase, string> & Record<EffectStatus, string> = {
  investigating: "{effects} We are investigating.",
  identified: "We have found the cause of the problem with {components} and are fixing it.",
  monitoring: "{components} {is} working normally again. We are watching closely to make sure it stays that way.",
  resolved: "This incident has been resolved. {components} {is} working normally.",
  degraded_performance: "{name} is slower than usual.",
  partial_outage: "{name} is not working for some people.",
  major_outage: "{name} is not working.",
};

/** The problem with a template, if any: an unknown or unclosed placeholder, naming the near one. */
export function templateProblem(text: string, allowed: readonly string[]): string | undefined {
  for (const match of text.matchAll(/\{([^{}]*)\}?/g)) {
    const [whole, name = ""] = match;
    if (!whole.endsWith("}")) return `"{${name}" is not closed: write placeholders like {components}`;
    if (!allowed.includes(name)) return `{${name}} is not a placeholder here${didYouMean(name, allowed)}; use ${allowed.map((p) => `{${p}}`).join(", ")}`;
  }
  return undefined;
}

const template = (allowed: readonly Placeholder[]) =>
  z
    .string()
    .trim()
    .min(1, { error: "must not be empty" })
    .max(1_000)
    .superRefine((text, ctx) => {
      const problem = templateProblem(text, allowed);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });

const phaseShape = Object.fromEntries(INCIDENT_PHASES.map((p) => [p, template(PHASE_PLACEHOLDERS).optional()])) as Record<IncidentPhase, z.ZodOptional<ReturnType<typeof template>>>;
const effectShape = Object.fromEntries(EFFECT_STATUSES.map((s) => [s, template(EFFECT_PLACEHOLDERS).optional()])) as Record<EffectStatus, z.ZodOptional<ReturnType<typeof template>>>;

/**
 * `wording:` at the top of pulseboard.yaml (the page-wide templates of
 * automatic incidents) and `components[].wording` (one component's own,
 * used when it is the first affected). @defaultValue {@link DEFAULT_WORDING}
 */
export const wordingSchema = z.strictObject({ ...phaseShape, ...effectShape });
export type Wording = z.output<typeof wordingSchema>;
