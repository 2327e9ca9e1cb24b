import type { z } from "zod";
import { formatIssues, type Config } from "../config/index.ts";
import { ValidationError } from "../core/index.ts";
import type { PendingSubscription } from "./model.ts";
import type { SubscriberStore } from "./store.ts";

/** Sends the confirmation request of a pending subscription (through the delivery queue). */
export interface ConfirmationSender {
  request(pending: PendingSubscription): Promise<void>;
}

/** What every subscription verb works with. */
export interface SubscriptionContext {
  store: SubscriberStore;
  /** The running config (it changes when pulseboard.yaml is reloaded). */
  config: () => Config;
  confirmations: ConfirmationSender;
  /** The clock; tests replace it. @defaultValue () => new Date() */
  now?: () => Date;
}

/** Parses a verb's input, turning zod issues into one ValidationError. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error.issues));
  return parsed.data;
}

export function nowOf(ctx: SubscriptionContext): Date {
  return ctx.now?.() ?? new Date();
}
