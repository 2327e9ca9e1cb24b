import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { scrub, scrubDeep, secretsIn } from "../../src/core/index.ts";

describe("finding and scrubbing the secrets of settings", () => {
  it("finds values under secret names at any depth, URL passwords and secret or token-long query values", () => {
    const found = secretsIn({
      url: "https://user:p%40ss-word@host.test/path?api_key=k-123456&page=2&channel=probe.chat&sig=abcd&session=0123456789abcdefXYZ",
      headers: { Authorization: "Bearer tok-1", "X-Request-Id": "r-1", Cookie: "sid=cookie-1" },
      nested: { smtp: { pass: "smtp-pass" }, routing_key: "rk-1", private_key: "pk-1" },
      list: [{ token: "t-1" }],
      plain: "nothing here",
      number: 42,
    });
    for (const secret of ["rk-1", "p@ss-word", "p%40ss-word", "k-123456", "abcd", "0123456789abcdefXYZ", "Bearer tok-1", "sid=cookie-1", "smtp-pass", "pk-1", "t-1"]) {
      assert.ok(found.includes(secret), `${secret} is found`);
    }
    for (const benign of ["2", "probe.chat", "r-1", "nothing here", "user"]) assert.ok(!found.includes(benign), `${benign} is not a secret`);
  });

  it("scrubs raw and URL-encoded forms, longest first, and keeps the shape of what it scrubs", () => {
    assert.equal(scrub("GET https://u:p%40ss-word@h/ failed; p@ss-word", ["p@ss-word"]), "GET https://u:[redacted]@h/ failed; [redacted]");
    assert.equal(scrub("abc", ["abc"]), "abc", "under 4 characters, nothing is scrubbed");
    assert.deepEqual(scrubDeep({ url: "x?key=secret-1", n: 3, list: ["secret-1", null] }, ["secret-1"]), { url: "x?key=[redacted]", n: 3, list: ["[redacted]", null] });
  });

  it("finds the values of secret options in a command's arguments", () => {
    const found = secretsIn({ command: ["kubectl", "--token=tk-1234", "--password", "pw-1234", "-n", "prod", "AWS_SECRET_ACCESS_KEY=ak-1234", "--namespace=prod"] });
    assert.deepEqual(found.sort(), ["ak-1234", "pw-1234", "tk-1234"]);
  });
});
