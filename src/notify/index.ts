export * from "./types.ts";
export { NOTIFIER_KINDS, notifiers, channelKinds, isNotifierKind, type NotifierKind } from "./registry.ts";
export type { WebhookIncident, WebhookPayload } from "./webhook.ts";
export { PAGERDUTY_EVENTS_URL } from "./pagerduty.ts";
