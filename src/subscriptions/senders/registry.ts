import type { SubscriberType } from "../model.ts";
import email from "./email.ts";
import type { SubscriberSender } from "./types.ts";
import webhook from "./webhook.ts";

/** Every subscriber type's sender; a type without one does not compile. */
export const senders: Record<SubscriberType, SubscriberSender> = { webhook, email };
