import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { ApprovalSigner } from "../../src/playbooks/index.ts";

describe("approve links: signed by their own key, expiring", () => {
  const signer = new ApprovalSigner(randomBytes(32));
  const now = Date.parse("2026-11-23T12:00:00Z");

  it("accepts its own token until it expires, and names the run", () => {
    const token = signer.token("run-1", now + 60_000);
    const link = signer.verify(token, now);
    assert.ok(!("refused" in link));
    assert.equal(link.run, "run-1");
    assert.equal(link.expiresAt, now + 60_000);
    assert.deepEqual(signer.verify(token, now + 60_000), { refused: "this approve link has expired" });
  });

  it("makes every token unique, so using one (its nonce) spends no other", () => {
    const a = signer.verify(signer.token("run-1", now + 60_000), now);
    const b = signer.verify(signer.token("run-1", now + 60_000), now);
    assert.ok(!("refused" in a) && !("refused" in b));
    assert.notEqual(a.nonce, b.nonce);
  });

  it("refuses a token made with another key, and any altered part: the run, the expiry, the nonce, the signature", () => {
    const token = signer.token("run-1", now + 60_000);
    const [run, expires, nonce, mac] = token.split(".") as [string, string, string, string];
    const refused = { refused: "this approve link is not valid" };
    assert.deepEqual(new ApprovalSigner(randomBytes(32)).verify(token, now), refused);
    assert.deepEqual(signer.verify([`${run}x`, expires, nonce, mac].join("."), now), refused);
    assert.deepEqual(signer.verify([run, String(Number(expires) + 3_600_000), nonce, mac].join("."), now), refused, "an extended expiry breaks the signature");
    assert.deepEqual(signer.verify([run, expires, `${nonce}A`, mac].join("."), now), refused);
    assert.deepEqual(signer.verify([run, expires, nonce, `${mac[0] === "A" ? "B" : "A"}${mac.slice(1)}`].join("."), now), refused);
    assert.deepEqual(signer.verify([run, expires, nonce, ""].join("."), now), refused);
    assert.deepEqual(signer.verify("run-1.123", now), { refused: "this is not an approve link" });
  });
});
