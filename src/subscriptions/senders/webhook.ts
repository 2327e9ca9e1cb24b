import { postJson, urlSecrets } from "../../notify/index.ts";
import { webhookBody } from "../payloads.ts";
import type { SubscriberSender } from "./types.ts";

/** How long a subscriber's endpoint has to answer one POST. */
const TIMEOUT_MS = 10_000;

/**
 * Webhook subscribers: a JSON POST of Statuspage's webhook document. The
 * `webhook-id` header is the post's id, the same on every retry, so a
 * receiver can drop repeats. A 410 Gone answer ends the subscription.
 */
const webhook: SubscriberSender = {
  type: "webhook",
  accepts: () => true,
  post(subscriber, post, ctx) {
    const body = webhookBody(post, { unsubscribe: ctx.links.unsubscribe(subscriber.id), documentation: ctx.links.documentation });
    return send(subscriber.address, JSON.stringify(body), post.id, ctx);
  },
  confirm(pending, request, ctx) {
    const body = {
      meta: { unsubscribe: null, documentation: ctx.links.documentation },
      page: request.page,
      subscription_confirmation: { confirm_url: request.confirm_url, expires_at: request.expires_at, components: request.components },
    };
    return send(pending.address, JSON.stringify(body), `confirm_${pending.id}`, ctx);
  },
};

function send(url: string, body: string, id: string, ctx: Parameters<SubscriberSender["post"]>[2]) {
  return postJson({ receiver: "Subscriber webhook", url, body, headers: { "webhook-id": id }, timeoutMs: TIMEOUT_MS, secrets: urlSecrets(url) }, ctx);
}

export default webhook;
