export * from "./types.ts";
export { NOTIFIER_KINDS, notifiers, channelKinds, isNotifierKind, type NotifierKind } from "./registry.ts";
export type { WebhookIncident, WebhookPayload, WebhookIncidentPayload, WebhookMaintenancePayload } from "./webhook.ts";
export { PAGERDUTY_EVENTS_URL } from "./pagerduty.ts";
export { sendSmtp, type SmtpSettings, type SmtpMessage } from "./email.ts";
export { postJson, hostOf, urlSecrets, type JsonPost } from "./http.ts";
export { escapeHtml } from "./email-body.ts";
export { statusLabel, componentStatusLabel, eventLabel, formatTime, oneLine } from "./render.ts";
export { RetryableDeliveryError } from "./retryable.ts";
