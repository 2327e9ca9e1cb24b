import { NotFoundError } from "../../core/index.ts";
import { parseInput, type SubscriptionContext } from "../context.ts";
import { linkToken } from "../inputs.ts";

/**
 * Ends a subscription from the token of its unsubscribe link. Unsubscribing
 * again answers the same (`removed: false`); a made-up token is refused.
 */
export async function unsubscribe(ctx: SubscriptionContext, rawToken: unknown): Promise<{ removed: boolean }> {
  const { token } = parseInput(linkToken, { token: rawToken });
  const signer = await ctx.store.linkSigner(ctx.config().subscriptions.secret);
  const id = signer.verify("unsubscribe", token);
  if (!id) throw new NotFoundError("unsubscribe link (it is not one we sent)");
  return { removed: await removeQuietly(ctx, id) };
}

/** Removes a subscriber (a person's call through the admin API); NotFoundError when there is none. */
export async function removeSubscriber(ctx: SubscriptionContext, id: string): Promise<void> {
  if (!(await removeQuietly(ctx, id))) throw new NotFoundError(`subscriber ${id}`);
}

/** Removes a subscriber if there is one: unsubscribe links, 410 Gone answers, people. */
export function removeQuietly(ctx: Pick<SubscriptionContext, "store" | "config">, id: string): Promise<boolean> {
  return ctx.store.remove(id, ctx.config().components.map((c) => c.id));
}
