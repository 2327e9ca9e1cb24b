import { ValidationError, newId } from "../../core/index.ts";
import { nowOf, parseInput, type SubscriptionContext } from "../context.ts";
import { subscribeInput, type SubscribeInput } from "../inputs.ts";
import { addressHash } from "../keys.ts";
import type { PendingSubscription, SubscriberType } from "../model.ts";

/** Confirmation requests one address gets per hour at most; more are dropped without a word. */
export const REQUESTS_PER_ADDRESS = 5;
const HOUR_MS = 3_600_000;

/**
 * Asks for a subscription: records it as pending (it expires after
 * `subscriptions.confirm_ttl`) and sends the address a confirmation link.
 * The answer is the same whether the address is subscribed already or not,
 * and whether or not its hourly allowance of confirmation requests is used
 * up, so it tells nobody who subscribes. Confirming replaces the components
 * of an existing subscription.
 */
export async function requestSubscription(ctx: SubscriptionContext, rawInput: SubscribeInput): Promise<{ type: SubscriberType; expires_at: string }> {
  const input = parseInput(subscribeInput, rawInput);
  const config = ctx.config();
  checkAvailable(ctx, input.type);
  const known = config.components.map((c) => c.id);
  const unknown = input.components.filter((id) => !known.includes(id));
  if (unknown.length > 0) {
    throw new ValidationError(unknown.map((id) => `components: no component has the id ${JSON.stringify(id)} (known: ${known.join(", ")})`));
  }
  const address = input.type === "webhook" ? input.endpoint : input.email;
  const now = nowOf(ctx);
  const ttl = config.subscriptions.confirmTtlMs;
  const expires_at = new Date(now.getTime() + ttl).toISOString();
  const sent = await ctx.store.hit(ctx.store.keys.requests(addressHash(input.type, address)), HOUR_MS);
  if (sent > REQUESTS_PER_ADDRESS) return { type: input.type, expires_at };
  const pending: PendingSubscription = {
    id: newId(16),
    type: input.type,
    address,
    components: input.components,
    requested_at: now.toISOString(),
    expires_at,
  };
  await ctx.store.savePending(pending, ttl);
  await ctx.confirmations.request(pending);
  return { type: input.type, expires_at };
}

/** Refuses a subscriber type the page does not offer, saying why. */
export function checkAvailable(ctx: SubscriptionContext, type: SubscriberType): void {
  const { subscriptions } = ctx.config();
  if (type === "webhook" && !subscriptions.webhook.enabled) {
    throw new ValidationError(["type: webhook subscriptions are turned off on this page (subscriptions.webhook.enabled)"]);
  }
  if (type === "email" && !subscriptions.email) {
    throw new ValidationError(["type: e-mail subscriptions are not available on this page (no SMTP server is configured under subscriptions.email)"]);
  }
}
