import type { Config } from "../config/index.ts";
import { formatDuration } from "../config/index.ts";
import { NotFoundError } from "../core/index.ts";
import { publicText, publishIncident, type Author, type ComponentStatus, type Incident, type StatusContext } from "../status/index.ts";
import { affectedNow } from "./public-effects.ts";

export interface PublishDraftInput {
  id: string;
  author: Author;
  /** The review timeout ran out: nobody published it. */
  automatically: boolean;
  /** What customers read first. @defaultValue the public wording of the incident's state now */
  body?: string;
  key?: string;
}

/**
 * Publishes a draft (by a person, or by its review timeout) with one public
 * entry for its state now, in the wording automatic incidents use, and tells
 * on-call who published it. Refuses what is not a draft (ConflictError).
 */
export async function publishDraft(config: Config, status: StatusContext, input: PublishDraftInput): Promise<{ incident: Incident; written: boolean }> {
  const current = await status.store.incident(input.id);
  if (!current) throw new NotFoundError(`incident ${input.id}`);
  const body = input.body ?? (await publicWordsOf(config, status, current));
  const detail = input.automatically
    ? `Nobody published this draft within ${formatDuration(config.incidents.reviewTimeout)} (incidents.review_timeout), so it published itself: customers see it from now on.`
    : `Published by ${input.author.name}: customers see it from now on.`;
  return publishIncident(status, { id: input.id, body, detail, author: input.author, ...(input.key ? { key: input.key } : {}) });
}

/** The entry an automatic incident in this state would have written in public: its status's words for the components it affects now. */
async function publicWordsOf(config: Config, status: StatusContext, incident: Incident): Promise<string> {
  const phase = incident.status === "postmortem" ? "resolved" : incident.status;
  const all = Object.entries(incident.components);
  const unwell = all.filter(([, s]) => s !== "operational");
  const shown: Record<string, ComponentStatus> = Object.fromEntries(phase === "investigating" || phase === "identified" ? (unwell.length > 0 ? unwell : all) : all);
  return publicText(config, phase, await affectedNow(config, status, shown));
}
