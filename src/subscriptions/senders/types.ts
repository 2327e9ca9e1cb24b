import type { Config } from "../../config/index.ts";
import type { Logger } from "../../core/index.ts";
import type { DeliveryOutcome } from "../../notify/index.ts";
import type { SubscriptionLinks } from "../links.ts";
import type { PendingSubscription, Subscriber, SubscriberType } from "../model.ts";
import type { SubscriberPost, WebhookPage } from "../payloads.ts";

export interface SenderContext {
  /** Aborts at the attempt's deadline. */
  signal: AbortSignal;
  log: Logger;
  config: Config;
  links: SubscriptionLinks;
}

/** What a confirmation request says: where to confirm, until when, and for which components. */
export interface ConfirmationRequest {
  page: WebhookPage;
  confirm_url: string;
  expires_at: string;
  components: string[];
}

/** One way of telling subscribers (one file each, listed in the registry). */
export interface SubscriberSender {
  type: SubscriberType;
  /** Whether subscribers of this type get posts of this kind (e-mail gets incidents only). */
  accepts(post: SubscriberPost): boolean;
  post(subscriber: Subscriber, post: SubscriberPost, ctx: SenderContext): Promise<DeliveryOutcome>;
  confirm(pending: PendingSubscription, request: ConfirmationRequest, ctx: SenderContext): Promise<DeliveryOutcome>;
}
