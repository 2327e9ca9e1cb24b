import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets } from "../../src/probe-runtime/index.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";

/**
 * A small site standing in for the platform's landing and login pages, with
 * the ways such pages break: errors, redirects, a stalled answer, a body that
 * never ends.
 */
function startSite(): Promise<{ server: http.Server; url: string; requests: http.IncomingHttpHeaders[] }> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    switch (req.url) {
      case "/":
        return void res.writeHead(200, { "content-type": "text/html" }).end("<html><title>Lumen Live</title><body>Welcome to the event</body></html>");
      case "/login":
        return void res.writeHead(302, { location: "/sso/start" }).end();
      case "/broken":
        return void res.writeHead(503, { "content-type": "text/html" }).end("<h1>Service Unavailable</h1> upstream connect error");
      case "/big":
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("a".repeat(100_000));
        return void res.end("NEEDLE");
      case "/stall":
        return; // never answers
      case "/trickle":
        res.writeHead(200, { "content-type": "text/plain" });
        return void res.write("started…"); // and never ends
      default:
        return void res.writeHead(404).end("not found");
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })));
}

describe("probe kind http (real HTTP servers)", () => {
  let site: Awaited<ReturnType<typeof startSite>>;
  let gateway: TestNode;
  const targets: PlatformTargets = { gatewayUrl: "ws://127.0.0.1:1/ws", gatewayNodeUrls: [] };
  const run = (settings: Record<string, unknown>, timeoutMs = 2_000) => runKind("http", settings, { targets, timeoutMs });

  before(async () => {
    site = await startSite();
    gateway = await startTestNode({});
  });
  after(async () => {
    site.server.closeAllConnections();
    site.server.close();
    await gateway.node.stop();
  });

  it("passes on a page with the expected status and body, timing connect, first byte and body", async () => {
    const result = await run({ url: `${site.url}/`, contains: "Welcome to the event", matches: "<title>Lumen\\s+Live</title>", headers: { "user-agent": "pulseboard-probe" } });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "first byte", "body"]);
    assert.equal(result.details?.status, 200);
    assert.equal(site.requests.at(-1)!["user-agent"], "pulseboard-probe");
  });

  it("passes on the gateway's own /healthz", async () => {
    const result = await run({ url: `${gateway.httpUrl}/healthz`, contains: '"node":"node-0"' });
    assert.equal(result.status, "ok", result.error);
  });

  it("reports a redirect without following it: passes under the default statuses, fails when 200 is required", async () => {
    const lenient = await run({ url: `${site.url}/login` });
    assert.equal(lenient.status, "ok", lenient.error);
    assert.equal(lenient.details?.redirect, "/sso/start");
    const strict = await run({ url: `${site.url}/login`, status: 200 });
    assert.equal(strict.status, "failed");
    assert.equal(strict.error, `${site.url}/login answered a redirect (302) to /sso/start; expected 200`);
  });

  it("fails on an unexpected status, quoting the start of the body", async () => {
    const result = await run({ url: `${site.url}/broken`, status: ["200-299", 304] });
    assert.equal(result.status, "failed");
    assert.equal(result.error, `${site.url}/broken answered HTTP 503: "<h1>Service Unavailable</h1> upstream connect error"; expected 200-299, 304`);
  });

  it("reads at most max_body bytes: text beyond it is not found, and says so", async () => {
    const result = await run({ url: `${site.url}/big`, contains: "NEEDLE", max_body: "64KiB" });
    assert.equal(result.status, "failed");
    assert.match(result.error!, /does not contain "NEEDLE" in the first 65536 bytes \(max_body\)/);
    const whole = await run({ url: `${site.url}/big`, contains: "NEEDLE", max_body: "1MiB" });
    assert.equal(whole.status, "ok", whole.error);
  });

  it("fails when the body does not match", async () => {
    const result = await run({ url: `${site.url}/`, matches: "Sign in" });
    assert.equal(result.status, "failed");
    assert.match(result.error!, /does not match \/Sign in\/ in its \d+-byte body/);
  });

  it("HEAD checks the status only", async () => {
    const result = await run({ url: `${site.url}/`, method: "HEAD" });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "first byte"]);
  });

  it("fails in the connect phase when nothing listens", async () => {
    const port = await freePort();
    const result = await run({ url: `http://127.0.0.1:${port}/` });
    assert.equal(result.failed_phase, "connect");
    assert.equal(result.error, `connect: connection refused by 127.0.0.1:${port}: nothing is listening`);
  });

  it("names the phase a slow server was stuck in: first byte, or body", async () => {
    const stalled = await run({ url: `${site.url}/stall` }, 400);
    assert.equal(stalled.failed_phase, "first byte");
    assert.equal(stalled.error, "timed out after 400 ms during first byte");
    const trickle = await run({ url: `${site.url}/trickle` }, 400);
    assert.equal(trickle.failed_phase, "body");
    assert.equal(trickle.error, "timed out after 400 ms during body");
  });

  it("refuses settings that make no sense, naming the field", async () => {
    const probe = (await import("../../probes/http.ts")).default;
    const bad = probe.configSchema.safeParse({ url: "ftp://x", matches: "(", status: "2xx" });
    assert.deepEqual(bad.error!.issues.map((i) => i.path.join(".")).sort(), ["matches", "status", "url"]);
    const head = probe.configSchema.safeParse({ url: "http://x/", method: "HEAD", contains: "x" });
    assert.match(head.error!.issues[0]!.message, /a HEAD request has no body to check/);
  });

  it("leaves no socket or timer behind after passes, failures and timeouts", async () => {
    const baseline = activeResources();
    const port = await freePort();
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => run({ url: `${site.url}/`, contains: "Welcome" })),
      ...Array.from({ length: 5 }, () => run({ url: `${site.url}/big`, max_body: "1KiB" })),
      ...Array.from({ length: 5 }, () => run({ url: `${site.url}/stall` }, 300)),
      ...Array.from({ length: 5 }, () => run({ url: `${site.url}/trickle` }, 300)),
      ...Array.from({ length: 5 }, () => run({ url: `http://127.0.0.1:${port}/` })),
    ]);
    assert.deepEqual(
      results.map((r) => r.failed_phase ?? r.status),
      [...Array(10).fill("ok"), ...Array(5).fill("first byte"), ...Array(5).fill("body"), ...Array(5).fill("connect")],
    );
    await expectNoLeak(baseline);
  });
});
