import { createHash } from "node:crypto";

/** Every Redis key of status-page subscriptions, under the control plane's prefix. */
export class SubscriptionKeys {
  readonly base: string;

  constructor(prefix: string) {
    this.base = `${prefix}:subscriptions`;
  }

  /** Hash: subscriber id → Subscriber JSON. */
  get subscribers(): string {
    return `${this.base}:subscribers`;
  }
  /** Hash: addressHash(type, address) → subscriber id (one subscriber per address). */
  get addresses(): string {
    return `${this.base}:addresses`;
  }
  /** PendingSubscription JSON, expiring with its confirmation link. */
  pending(id: string): string {
    return `${this.base}:pending:${id}`;
  }
  /** Counter of confirmation requests sent to one address in the current hour. */
  requests(addressHash: string): string {
    return `${this.base}:requests:${addressHash}`;
  }
  /** Counter of one client's requests in the current rate-limit window. */
  rate(client: string): string {
    return `${this.base}:rate:${client}`;
  }
  /** The HMAC key of links, when pulseboard.yaml sets none. */
  get linkKey(): string {
    return `${this.base}:link-key`;
  }
  /** The payload of one post, shared by every subscriber it goes to. */
  post(id: string): string {
    return `${this.base}:post:${id}`;
  }
  /** Hash: subscriber → last sequence queued in a thread (an incident or a component), plus claims. */
  queued(thread: string): string {
    return `${this.base}:queued:${thread}`;
  }
  /** Hash: subscriber → last sequence delivered (or given up on) in a thread. */
  delivered(thread: string): string {
    return `${this.base}:delivered:${thread}`;
  }
  /** List of posts given up on, newest first. */
  get dead(): string {
    return `${this.base}:dead`;
  }
  /** The dispatcher lease: one dispatcher at a time keeps posts in order. */
  get lease(): string {
    return `${this.base}:dispatch:lease`;
  }
}

/** The index key of an address: a digest, so the index itself holds no addresses. */
export function addressHash(type: string, address: string): string {
  return createHash("sha256").update(`${type}:${address.toLowerCase()}`).digest("base64url");
}
