import { NotFoundError, UpstreamError, newId } from "../../core/index.ts";
import { nowOf, parseInput, type SubscriptionContext } from "../context.ts";
import { LinkExpiredError } from "../errors.ts";
import { linkToken } from "../inputs.ts";
import type { Subscriber } from "../model.ts";

const ATTEMPTS = 5;

/**
 * Confirms a pending subscription from the token of its confirmation link:
 * the address becomes a subscriber (or, when it is one, gets the components
 * it asked for now). Confirming twice answers the same; an expired link is
 * refused with LinkExpiredError, a made-up one with NotFoundError.
 */
export async function confirmSubscription(ctx: SubscriptionContext, rawToken: unknown): Promise<{ subscriber: Subscriber; already: boolean }> {
  const { token } = parseInput(linkToken, { token: rawToken });
  const signer = await ctx.store.linkSigner(ctx.config().subscriptions.secret);
  const id = signer.verify("confirm", token);
  if (!id) throw new NotFoundError("confirmation link (it is not one we sent)");
  for (let attempt = 1; ; attempt++) {
    const found = await ctx.store.pending(id);
    if (!found) throw new LinkExpiredError("this confirmation link has expired; subscribe again to get a new one");
    const { pending, raw } = found;
    if (pending.confirmed_as) {
      const subscriber = await ctx.store.subscriber(pending.confirmed_as);
      if (subscriber) return { subscriber, already: true };
      throw new LinkExpiredError("this subscription was confirmed and has since been cancelled; subscribe again to renew it");
    }
    const existing = await ctx.store.subscriberAt(pending.type, pending.address);
    const at = nowOf(ctx).toISOString();
    const subscriber: Subscriber = existing
      ? { ...existing, components: pending.components, updated_at: at }
      : { id: newId(16), type: pending.type, address: pending.address, components: pending.components, created_at: at, confirmed_at: at, updated_at: at };
    const answer = await ctx.store.confirm(raw, pending, existing?.id, subscriber);
    if (answer === "ok") return { subscriber, already: false };
    if (answer === "gone") throw new LinkExpiredError("this confirmation link has expired; subscribe again to get a new one");
    if (attempt >= ATTEMPTS) throw new UpstreamError("the subscription kept changing while it was being confirmed; try again");
  }
}
