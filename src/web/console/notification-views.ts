import type { ChannelView, DeadLetter } from "../../pipeline/index.ts";
import { eventLabel, subjectOf } from "../../notify/index.ts";
import type { Subscriber } from "../../subscriptions/index.ts";

/**
 * View models of the console's notifications and subscribers pages: plain
 * data the views print (every text through `{{…}}`, which escapes it).
 */

/** What a post was about, as a link to its console page: an incident, or a maintenance window. */
function aboutLink(subject: { kind: "incident" | "maintenance"; id: string; name: string }) {
  return { name: subject.name, href: subject.kind === "maintenance" ? `/admin/maintenance/${subject.id}` : `/admin/incidents/${subject.id}` };
}

/** A channel as a row: its state in words and its last delivery. */
export function channelRow(channel: ChannelView) {
  const last = channel.last_delivery;
  const subject = last && (last.maintenance ? { kind: "maintenance" as const, ...last.maintenance } : { kind: "incident" as const, id: last.incident?.id ?? "", name: last.incident?.name ?? "" });
  return {
    id: channel.id,
    kind: channel.kind,
    disabled: channel.disabled,
    last: last && subject && { at: last.at, what: eventLabel(last.type), about: aboutLink(subject), replay: last.replay === true },
  };
}

/** A dead letter as a row: which post, to which channel, why it was given up on. */
export function deadLetterRow(letter: DeadLetter) {
  const { event } = letter.job;
  return {
    id: letter.id,
    channel: letter.channel,
    what: eventLabel(event.type),
    about: aboutLink(subjectOf(event)),
    reason: letter.reason,
    attempts: letter.attempts,
    attemptsText: `${letter.attempts} attempt${letter.attempts === 1 ? "" : "s"}`,
    failed_at: letter.failed_at,
  };
}

/** What the replay confirmation shows of a dead letter. */
export function replayFacts(letter: DeadLetter) {
  const row = deadLetterRow(letter);
  return [
    { label: "Channel", value: row.channel },
    { label: "Post", value: `${row.what}: ${row.about.name}` },
    { label: "Given up", at: row.failed_at, value: `after ${row.attemptsText}` },
    { label: "Why", value: row.reason },
  ];
}

/** How many matches the subscribers page lists at once. */
export const SUBSCRIBERS_SHOWN = 100;

/**
 * Subscribers whose address (webhook endpoint or e-mail) holds `query`,
 * whatever its case, newest first; all of them for an empty query.
 */
export function searchSubscribers(all: Subscriber[], query: string, componentNames: ReadonlyMap<string, string>) {
  const needle = query.trim().toLowerCase();
  const found = all.filter((s) => needle === "" || s.address.toLowerCase().includes(needle)).sort((a, b) => b.confirmed_at.localeCompare(a.confirmed_at));
  return { total: found.length, shown: found.slice(0, SUBSCRIBERS_SHOWN).map((s) => subscriberRow(s, componentNames)) };
}

/** A subscriber as a row: how it is told, where, about which components (by name). */
export function subscriberRow(subscriber: Subscriber, componentNames: ReadonlyMap<string, string>) {
  return {
    id: subscriber.id,
    type: subscriber.type === "email" ? "E-mail" : "Webhook",
    address: subscriber.address,
    components: subscriber.components.length > 0 ? subscriber.components.map((id) => componentNames.get(id) ?? id).join(", ") : "every component",
    confirmed_at: subscriber.confirmed_at,
  };
}
