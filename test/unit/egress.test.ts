import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { checkEgressHost, checkEgressUrl, egressLookup, EgressRefused, refusedAddress, setEgressPolicy } from "../../src/core/index.ts";
import { postJson } from "../../src/notify/http.ts";
import { testLog } from "../helpers/config.ts";

describe("egress policy for configured outbound addresses", () => {
  after(() => setEgressPolicy({ allowLinkLocal: false }));

  it("refuses link-local and cloud-metadata addresses, v4, v6 and v4-mapped; allows loopback, private and public ones", () => {
    for (const address of ["169.254.169.254", "169.254.1.2", "100.100.100.200", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254", "0.0.0.0"]) {
      assert.ok(refusedAddress(address), `${address} is refused`);
    }
    assert.equal(refusedAddress("169.254.169.254"), "the cloud metadata address");
    for (const address of ["127.0.0.1", "::1", "10.0.0.5", "192.168.1.1", "172.16.0.1", "8.8.8.8", "2001:db8::1"]) {
      assert.equal(refusedAddress(address), undefined, `${address} is allowed`);
    }
  });

  it("checks literal hosts in URLs, and every address a name resolves to at connect time", async () => {
    assert.throws(() => checkEgressUrl(new URL("http://169.254.169.254/latest/meta-data/")), /169\.254\.169\.254 is the cloud metadata address; outbound requests may not go there \(allow it with egress: \{ allow_link_local: true \}\)/);
    assert.throws(() => checkEgressUrl(new URL("http://[fe80::1]:8080/")), EgressRefused);
    assert.doesNotThrow(() => checkEgressUrl(new URL("http://127.0.0.1:9/")));
    await assert.rejects(checkEgressHost(new URL("http://169.254.10.10/")), /link-local/);
    const looked = await new Promise<Error | null>((resolve) => egressLookup("169.254.169.254", {}, (err) => resolve(err)));
    assert.ok(looked instanceof EgressRefused);
    assert.match(looked.message, /^169\.254\.169\.254 resolves to 169\.254\.169\.254, the cloud metadata address/);
    const local = await new Promise<string>((resolve, reject) => egressLookup("localhost", {}, (err, address) => (err ? reject(err) : resolve(address as string))));
    assert.ok(local === "127.0.0.1" || local === "::1");
  });

  it("a webhook to the metadata address is refused without sending, and not retried", async () => {
    const outcome = await postJson(
      { receiver: "Webhook", url: "http://169.254.169.254/hook", body: "{}", timeoutMs: 1_000, secrets: [] },
      { signal: new AbortController().signal, log: testLog() } as never,
    );
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.retry, false);
    assert.match(!outcome.ok ? outcome.reason : "", /could not send to Webhook at 169\.254\.169\.254: .*the cloud metadata address/);
  });

  it("allows them when the config says so", () => {
    setEgressPolicy({ allowLinkLocal: true });
    assert.equal(refusedAddress("169.254.169.254"), undefined);
    assert.doesNotThrow(() => checkEgressUrl(new URL("http://169.254.169.254/")));
    setEgressPolicy({ allowLinkLocal: false });
  });
});
