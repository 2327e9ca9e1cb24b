import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import { freePort } from "../../src/core/index.ts";
import { startProbePipeline } from "../helpers/pipeline.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { waitFor } from "../helpers/wait.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

const BOOTSTRAP = "no-secrets-bootstrap-token-0123456789";
/** Every secret the config holds, each distinct enough that finding it anywhere is a leak. */
const SECRETS = {
  httpPassword: "http-url-password-4f9c1e",
  httpQueryKey: "http-query-api-key-7d2b90",
  httpHeader: "Bearer http-header-secret-a81c3f",
  redisPassword: "redis-probe-password-55e0aa",
  webhookSecret: "whsec_bm8tc2VjcmV0cy13ZWJob29rLXNlY3JldA==",
  slackToken: "slackPathToken0123456789abcdef",
  routingKey: "NoSecretsRoutingKey0123456789abc",
};

/**
 * Secrets never reach what people are shown: with probes failing against
 * URLs and headers that carry credentials, an incident opened from their
 * errors, and channels holding webhook secrets and keys, every public page,
 * feed and API and every admin GET route is read, and none holds a secret,
 * raw or URL-encoded. The failing probes' results are checked to carry their
 * details, with the secrets scrubbed out.
 */
describe("no secret in an API response or on the status page (real redis-server, BullMQ, probes, HTTP)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let target: HttpReceiver;
  let blocking: Redis;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    target = await HttpReceiver.start({ status: 500, body: "down" });
    const closed = await freePort();
    const targetUrl = new URL(target.url(`/health?api_key=${SECRETS.httpQueryKey}&page=1`));
    targetUrl.username = "probe";
    targetUrl.password = SECRETS.httpPassword;
    rig = await startWebRig(`
page: { name: Secrets, url: "https://status.acme.test" }
evaluation: { quiet_period: 1h }
locations: [{ id: local }]
components: [{ id: site, name: Website }, { id: cache, name: Cache }]
probes:
  - { id: site-login, kind: http, interval: 1s, timeout: 900ms, fail_after: 1, components: [site], with: { url: "${targetUrl.href}", headers: { Authorization: "${SECRETS.httpHeader}" } } }
  - { id: cache-ping, kind: redis, interval: 1s, timeout: 900ms, fail_after: 1, components: [cache], with: { url: "redis://:${SECRETS.redisPassword}@127.0.0.1:${closed}" } }
notifications:
  channels:
    - { id: hook, kind: webhook, url: "http://127.0.0.1:${closed}/hook", secret: "${SECRETS.webhookSecret}" }
    - { id: slack, kind: slack, url: "https://chat.acme.test/services/T0SECRET/B0SECRET/${SECRETS.slackToken}" }
    - { id: pd, kind: pagerduty, routing_key: ${SECRETS.routingKey} }
`, { tokens: [BOOTSTRAP], metrics: true });
    blocking = new Redis(rig.redis.url, { maxRetriesPerRequest: null });
    stops.push(await startProbePipeline({ config: rig.config, status: rig.status, commands: rig.connection, blocking }));
  });
  after(async () => {
    for (const stop of stops) await stop();
    blocking?.disconnect();
    await rig?.stop();
    await target?.stop();
  });

  const admin = (path: string) => request(rig.app).get(path).set("authorization", `Bearer ${BOOTSTRAP}`);

  it("scrubs the probes' secrets from their results, keeping what helps: host, path, status", async () => {
    const results = await waitFor("both probes to have failed", async () => {
      const { probes } = (await admin("/admin/api/probes").expect(200)).body as { probes: { id: string; locations: { last_result: { status: string; error?: string; details?: Record<string, unknown> } | null }[] }[] };
      const last = Object.fromEntries(probes.map((p) => [p.id, p.locations[0]?.last_result]));
      return last["site-login"]?.status === "failed" && last["cache-ping"]?.status === "failed" ? last : undefined;
    }, 20_000, 200);
    const site = results["site-login"]!;
    assert.match(site.error ?? "", /^http:\/\/probe:\[redacted\]@127\.0\.0\.1:\d+\/health\?api_key=\[redacted\]&page=1 answered HTTP 500/, `the URL and the reason are shown, the URL's secrets not: ${site.error}`);
    assert.ok(results["cache-ping"]!.error, "the cache probe says why it failed");
  });

  it("leaves every secret out of the public page, feeds and API and of every admin GET route", async () => {
    await waitFor("an incident opened from the probes' errors", async () => ((await admin("/admin/api/incidents").expect(200)).body.incidents as unknown[]).length > 0, 20_000, 200);
    const made = (await admin("/admin/api/tokens").expect(200)).body;
    assert.ok(Array.isArray(made.tokens));
    const { token: scoped } = (await request(rig.app).post("/admin/api/tokens").set("authorization", `Bearer ${BOOTSTRAP}`).send({ name: "reader", scopes: ["read"] }).expect(201)).body as { token: string };
    const [incident] = (await admin("/admin/api/incidents").expect(200)).body.incidents as { id: string }[];
    await rig.snapshot.refresh({ history: true });

    const publicPaths = ["/", "/history", `/incidents/${incident!.id}`, "/history.rss", "/history.atom", "/badge.svg", "/badge/site.svg"];
    for (const p of ["summary", "status", "components", "incidents", "incidents/unresolved", "scheduled-maintenances", "scheduled-maintenances/upcoming", "scheduled-maintenances/active"]) publicPaths.push(`/api/v2/${p}.json`);
    const adminPaths = [
      "/admin/api/components",
      "/admin/api/components/site/history",
      "/admin/api/incidents",
      `/admin/api/incidents/${incident!.id}`,
      "/admin/api/probes",
      "/admin/api/probes/site-login/results",
      "/admin/api/probes/cache-ping/results",
      "/admin/api/locations",
      "/admin/api/maintenances",
      "/admin/api/notifications/dead",
      "/admin/api/notifications/channels/disabled",
      "/admin/api/tokens",
      "/admin/api/audit",
      "/metrics",
    ];
    const bodies: string[] = [];
    for (const path of publicPaths) {
      const res = await request(rig.app).get(path).set("accept-encoding", "identity");
      assert.ok(res.status < 400, `${path}: ${res.status}`);
      bodies.push(`${path}\n${res.text}`);
    }
    for (const path of adminPaths) {
      const res = await admin(path);
      assert.equal(res.status, 200, `${path}: ${res.status} ${res.text.slice(0, 200)}`);
      bodies.push(`${path}\n${res.text}`);
    }
    const everything = bodies.join("\n");
    assert.match(everything, /Website/, "the crawl read real pages");
    const forbidden = [...Object.values(SECRETS), BOOTSTRAP, scoped, scoped.split(".")[1]!];
    for (const secret of forbidden) {
      for (const form of new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])) {
        const at = bodies.find((b) => b.includes(form));
        assert.equal(at, undefined, `a secret (${secret.slice(0, 6)}…) is shown at ${at?.split("\n")[0]}`);
      }
    }
  });
});
