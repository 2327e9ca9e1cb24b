/** How a subscriber is told: Statuspage-shaped webhooks, or e-mail. */
export const SUBSCRIBER_TYPES = ["webhook", "email"] as const;
export type SubscriberType = (typeof SUBSCRIBER_TYPES)[number];

/** A confirmed subscriber of the status page. */
export interface Subscriber {
  id: string;
  type: SubscriberType;
  /** The webhook endpoint URL, or the e-mail address (may carry secrets: never logged). */
  address: string;
  /** Component ids the subscriber chose; empty for all of them. */
  components: string[];
  created_at: string;
  confirmed_at: string;
  updated_at: string;
}

/**
 * A subscription asked for but not yet confirmed. It expires (the record is
 * written with a TTL); after confirmation it is kept until then, marked with
 * the subscriber it became, so a second click answers the same.
 */
export interface PendingSubscription {
  id: string;
  type: SubscriberType;
  address: string;
  components: string[];
  requested_at: string;
  expires_at: string;
  confirmed_as?: string;
}

/** A subscriber as the admin API shows it: the address under the name the subscribe API uses. */
export interface SubscriberView {
  id: string;
  type: SubscriberType;
  endpoint?: string;
  email?: string;
  components: string[];
  created_at: string;
  confirmed_at: string;
  updated_at: string;
}

export function viewOf(s: Subscriber): SubscriberView {
  const address = s.type === "webhook" ? { endpoint: s.address } : { email: s.address };
  return { id: s.id, type: s.type, ...address, components: s.components, created_at: s.created_at, confirmed_at: s.confirmed_at, updated_at: s.updated_at };
}

/** Whether a subscriber wants news of something touching `components` (all, or one it chose). */
export function wants(subscriber: Pick<Subscriber, "components">, components: Iterable<string>): boolean {
  if (subscriber.components.length === 0) return true;
  for (const id of components) if (subscriber.components.includes(id)) return true;
  return false;
}
