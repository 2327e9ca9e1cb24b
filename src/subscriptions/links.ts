import { createHmac, timingSafeEqual } from "node:crypto";

/** What a link does; part of what is signed, so one kind of token never works as another. */
export type LinkPurpose = "confirm" | "unsubscribe";

/**
 * Signs and checks the tokens of confirm and unsubscribe links. A token is
 * `<id>.<HMAC-SHA256(key, purpose:id)>`: nothing of it is stored, so a copy
 * of the database holds no working link, and every post can carry its
 * subscriber's unsubscribe link.
 */
export class LinkSigner {
  constructor(private readonly key: Buffer) {}

  token(purpose: LinkPurpose, id: string): string {
    return `${id}.${this.mac(purpose, id).toString("base64url")}`;
  }

  /** The id a token was made for, or undefined when it was not made by this key for this purpose. */
  verify(purpose: LinkPurpose, token: string): string | undefined {
    const dot = token.indexOf(".");
    if (dot <= 0) return undefined;
    const id = token.slice(0, dot);
    const offered = Buffer.from(token.slice(dot + 1), "base64url");
    const expected = this.mac(purpose, id);
    return offered.length === expected.length && timingSafeEqual(offered, expected) ? id : undefined;
  }

  private mac(purpose: LinkPurpose, id: string): Buffer {
    return createHmac("sha256", this.key).update(`${purpose}:${id}`).digest();
  }
}

/** The public URLs of a page's subscription links. */
export class SubscriptionLinks {
  /** The page's public URL without a trailing slash. */
  readonly base: string;

  constructor(
    pageUrl: string,
    readonly signer: LinkSigner,
  ) {
    this.base = pageUrl.replace(/\/+$/, "");
  }

  confirm(pendingId: string): string {
    return `${this.base}/subscriptions/confirm?token=${this.signer.token("confirm", pendingId)}`;
  }

  unsubscribe(subscriberId: string): string {
    return `${this.base}/subscriptions/unsubscribe?token=${this.signer.token("unsubscribe", subscriberId)}`;
  }

  /** What subscribers are pointed to for how subscriptions and their payloads work. */
  get documentation(): string {
    return `${this.base}/subscriptions`;
  }
}
