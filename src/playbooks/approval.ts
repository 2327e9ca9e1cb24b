import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** What an approve link's token says, once its signature checks out. */
export interface ApprovalLink {
  run: string;
  expiresAt: number;
  /** Makes the token single-use: the store marks it used. */
  nonce: string;
}

/**
 * Signs and checks the tokens of approve links: `<run>.<expires ms>.<nonce>.<HMAC>`.
 * Nothing of a token is stored until it is used (then its nonce is, so it
 * works once); an expired or altered token is refused.
 */
export class ApprovalSigner {
  constructor(private readonly key: Buffer) {}

  token(run: string, expiresAt: number): string {
    const nonce = randomBytes(9).toString("base64url");
    const body = `${run}.${expiresAt}.${nonce}`;
    return `${body}.${this.mac(body).toString("base64url")}`;
  }

  /** The link a token was made for, or why it is refused. */
  verify(token: string, now = Date.now()): ApprovalLink | { refused: string } {
    const parts = token.split(".");
    if (parts.length !== 4) return { refused: "this is not an approve link" };
    const [run, expires, nonce, mac] = parts as [string, string, string, string];
    const offered = Buffer.from(mac, "base64url");
    const expected = this.mac(`${run}.${expires}.${nonce}`);
    if (offered.length !== expected.length || !timingSafeEqual(offered, expected)) return { refused: "this approve link is not valid" };
    const expiresAt = Number(expires);
    if (!Number.isFinite(expiresAt) || expiresAt <= now) return { refused: "this approve link has expired" };
    return { run, expiresAt, nonce };
  }

  private mac(body: string): Buffer {
    return createHmac("sha256", this.key).update(`approve:${body}`).digest();
  }
}
