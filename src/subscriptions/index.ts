export { SUBSCRIBER_TYPES, viewOf, wants, type Subscriber, type SubscriberType, type SubscriberView, type PendingSubscription } from "./model.ts";
export { SubscriberStore } from "./store.ts";
export { SubscriptionKeys } from "./keys.ts";
export { LinkSigner, SubscriptionLinks, type LinkPurpose } from "./links.ts";
export { LinkExpiredError } from "./errors.ts";
export type { SubscriptionContext, ConfirmationSender } from "./context.ts";
export { subscribeInput, endpointProblem, type SubscribeInput } from "./inputs.ts";
export { requestSubscription, checkAvailable, REQUESTS_PER_ADDRESS } from "./verbs/request-subscription.ts";
export { confirmSubscription } from "./verbs/confirm-subscription.ts";
export { unsubscribe, removeSubscriber } from "./verbs/unsubscribe.ts";
export {
  webhookBody,
  incidentAsOf,
  type StatuspageShapes,
  type StatuspageIncident,
  type StatuspageComponent,
  type SubscriberPost,
  type IncidentPost,
  type ComponentPost,
  type MaintenancePost,
  type StatuspageMaintenance,
  type WebhookPage,
  type WebhookMeta,
} from "./payloads.ts";
export { SUBSCRIPTIONS_QUEUE, QueuedConfirmations, type SubscriptionJob } from "./queue.ts";
export { startSubscriberDispatcher, type SubscriberDispatcherOptions } from "./dispatcher.ts";
export { startSubscriberDelivery, type SubscriberDeliveryOptions, type SubscriberDeadLetter } from "./delivery.ts";
export { senders } from "./senders/registry.ts";
export type { SubscriberSender, SenderContext, ConfirmationRequest } from "./senders/types.ts";
