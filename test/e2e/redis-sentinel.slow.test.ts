import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { sleep } from "../../src/core/index.ts";
import type { OnCallPost } from "../helpers/incident-stack.ts";
import { commandLine, descendants } from "../helpers/processes.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startSentinelGroup, type SentinelGroup } from "../helpers/sentinel.ts";
import { startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * `pulseboard start` on a Redis Sentinel group (REDIS_SENTINELS, no
 * REDIS_URL): it embeds no control-plane Redis, and when the primary is
 * SIGKILLed every role follows the Sentinels to the promoted replica
 * without a restart: an http probe's results keep reaching the worker, the
 * incident they opened before the kill resolves after it, on-call hears
 * both through the outbox, the page answers 200 throughout and shows the
 * resolution, and the roles' metrics keep reaching /metrics.
 */

const ADMIN_TOKEN = "e2e-sentinel-admin-token-0123456789";
/** The bound: within it the replica is primary and every role uses it. */
const FAILOVER_BOUND_MS = 15_000;

/** An HTTP endpoint for the probe whose answer the test decides. */
async function startTarget(): Promise<{ server: Server; port: number; setStatus(status: number): void }> {
  let status = 200;
  const server = createServer((_req, res) => res.writeHead(status, { connection: "close" }).end("health"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, setStatus: (next) => (status = next) };
}

/** The sum of a counter's series on /metrics whose labels include `labels`. */
async function counter(port: number, name: string, labels: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

describe("pulseboard start on a Redis Sentinel group (slow)", { timeout: 240_000 }, () => {
  let group: SentinelGroup;
  let target: Awaited<ReturnType<typeof startTarget>>;
  let oncall: HttpReceiver;
  let service: Service;

  before(async () => {
    group = await startSentinelGroup();
    target = await startTarget();
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    service = await startService({
      adminToken: ADMIN_TOKEN,
      env: group.env,
      config: (port) => `
page: { name: Sentinel e2e, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 1s, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: api, name: Public API }]
probes:
  - { id: api-http, kind: http, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [api], with: { url: "http://127.0.0.1:${target.port}/health" } }
notifications:
  retry_base: 100ms
  retry_max: 500ms
  attempts: 20
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
`,
      ready: async (s) => {
        const res = await fetch(`http://127.0.0.1:${s.port}/admin/api/components`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).catch(() => undefined);
        if (!res?.ok) return false;
        const { components } = (await res.json()) as { components: { state?: { status: string } }[] };
        return components.length === 1 && components[0]!.state?.status === "operational";
      },
    });
  });
  after(async () => {
    await service?.stop();
    await oncall?.stop();
    await new Promise((resolve) => target?.server.close(resolve));
    await group?.stop();
  });

  it("embeds no control-plane Redis: the Sentinels' master is it", () => {
    const commands = descendants(service.pid).map(commandLine);
    assert.deepEqual(commands.filter((c) => /redis-server/.test(c)), [], "no redis-server under pulseboard start");
    assert.ok(!existsSync(path.join(service.home, "redis")), "no embedded Redis data directory");
    assert.ok(commands.some((c) => / web$/.test(c)) && commands.some((c) => / core$/.test(c)), `web and core run:\n${commands.join("\n")}`);
  });

  it("results, the incident, on-call posts, the page and /metrics follow a SIGKILLed primary", async (t) => {
    const page = `http://127.0.0.1:${service.port}/`;
    const posts = () => oncall.requests.map((r) => r.json as OnCallPost);

    // Before: the probe fails, an incident opens and on-call is told.
    target.setStatus(500);
    const opened = await waitFor("the incident's first on-call post", () => posts().find((p) => p.data.update.status === "investigating"), 30_000);
    const incidentId = opened.data.incident.id;
    const evaluatedBefore = await waitFor("the worker's evaluate count on /metrics", async () => (await counter(service.port, "pulseboard_jobs_total", 'queue="evaluate",result="completed"')) || false, 20_000, 500);

    const answers: { at: number; status: number | string }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const at = Date.now();
        answers.push({ at, status: await fetch(page, { signal: AbortSignal.timeout(3_000) }).then(async (res) => (await res.arrayBuffer(), res.status), (err: Error) => err.message) });
        await sleep(100);
      }
    })();
    try {
      const killed = await group.killMaster();
      const killedAt = Date.now();
      const since = () => Date.now() - killedAt;
      // After: the probe recovers; only results taken in after the failover can resolve the incident.
      target.setStatus(200);
      const [promotedAfter, resolvedAfter] = await Promise.all([
        group.waitForNewMaster(killed, FAILOVER_BOUND_MS).then(since),
        waitFor("the resolution's on-call post", () => posts().some((p) => p.data.incident.id === incidentId && p.data.update.status === "resolved") && since(), FAILOVER_BOUND_MS, 100),
      ]);
      const shownAfter = await waitFor("the page's API to show the incident resolved", async () => {
        const body = (await (await fetch(`http://127.0.0.1:${service.port}/api/v2/incidents.json`)).json()) as { incidents: { id: string; status: string }[] };
        return body.incidents.some((i) => i.id === incidentId && i.status === "resolved") && since();
      }, FAILOVER_BOUND_MS, 200);
      // Roles publish their metrics every 5 s; the count the web role serves grows past what it was before the kill.
      const metricsAfter = await waitFor("the worker's metrics published after the failover", async () => (await counter(service.port, "pulseboard_jobs_total", 'queue="evaluate",result="completed"')) > evaluatedBefore && since(), 20_000, 500);
      t.diagnostic(`after the SIGKILL of 127.0.0.1:${killed}: Sentinels named the replica in ${promotedAfter} ms; the resolution reached on-call in ${resolvedAfter} ms; the page's API showed it in ${shownAfter} ms; /metrics moved on in ${metricsAfter} ms`);
      await sleep(1_000);
      polling = false;
      await poller;
      const during = answers.filter((a) => a.at >= killedAt);
      t.diagnostic(`the page answered ${answers.length} requests, ${during.length} after the kill`);
      assert.ok(during.length >= 20, `the page was asked through the failover (${during.length} times)`);
      assert.deepEqual(answers.filter((a) => a.status !== 200), [], "every answer of / was a 200");
      const output = service.output.join("\n");
      for (const secret of [group.password, group.sentinelPassword]) assert.ok(!output.includes(secret), "no password in the service's output");
    } finally {
      polling = false;
      await poller;
    }
  });
});
