import type { z } from "zod";
import discord from "./discord.ts";
import email from "./email.ts";
import pagerduty from "./pagerduty.ts";
import slack from "./slack.ts";
import teams from "./teams.ts";
import type { Notifier } from "./types.ts";
import webhook from "./webhook.ts";

/** Every channel kind there is; config names one of these as `kind`. */
export const NOTIFIER_KINDS = ["webhook", "slack", "teams", "discord", "pagerduty", "email"] as const;
/** The name of a channel kind, as written in `notifications.channels[].kind`. */
export type NotifierKind = (typeof NOTIFIER_KINDS)[number];

/**
 * Every kind by name. Typed as a Record over NotifierKind, so a kind listed
 * above without an implementation here does not compile.
 */
export const notifiers: Record<NotifierKind, Notifier> = { webhook, slack, teams, discord, pagerduty, email };

/** True for a kind that exists. */
export function isNotifierKind(kind: string): kind is NotifierKind {
  return (NOTIFIER_KINDS as readonly string[]).includes(kind);
}

/**
 * The channel kinds as config validation needs them (the same shape as the
 * probe kinds' registry): `schema(kind)` validates a channel's entry without
 * its `id` and `kind`; an unknown kind has none.
 */
export const channelKinds = {
  kinds(): string[] {
    return [...NOTIFIER_KINDS];
  },
  get(kind: string): Notifier | undefined {
    return isNotifierKind(kind) ? notifiers[kind] : undefined;
  },
  schema(kind: string): z.ZodType | undefined {
    return isNotifierKind(kind) ? notifiers[kind].configSchema : undefined;
  },
};
