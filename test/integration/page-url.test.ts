import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { freePort } from "../../src/core/index.ts";
import { NotificationControl, ProbeControl } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { QueuedConfirmations, SubscriberStore, startSubscriberDelivery } from "../../src/subscriptions/index.ts";
import { AdminAuth, createWebApp, SnapshotService, StatuspageMapper, subscriptionsRouter } from "../../src/web/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The absolute links the web app hands out follow the port it is served on
 * (PORT, HOST) when neither PUBLIC_URL nor page.url is set: the web app on a
 * real port, a real redis-server, the subscriber delivery worker on BullMQ
 * and a real HTTP receiver as the subscriber's endpoint.
 */

const TOKEN = "page-url-admin-token-0123456789";

describe("page URL on the served port (real HTTP, redis-server, BullMQ)", { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let config: Config;
  let server: Server;
  let hook: HttpReceiver;
  let base: string;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    redis = await startRedis();
    hook = await HttpReceiver.start({ status: 200, body: "ok" });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    config = await configFrom(
      `
redis: { prefix: ${uniquePrefix("page-url")} }
page: { name: Ports }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
`,
      { REDIS_URL: redis.url, PORT: String(port), HOST: "127.0.0.1" },
    );
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const log = testLog();
    const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    const store = new SubscriberStore(commands, config.redis.prefix);
    const confirmations = new QueuedConfirmations({ config: () => config, connection: commands });
    const snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log });
    await snapshot.start();
    const probes = new ProbeControl({ config: () => config, connection: commands, store: status.store, log });
    const notifications = new NotificationControl({ config: () => config, connection: commands, store: status.store });
    const router = subscriptionsRouter({ ctx: { store, config: () => config, confirmations }, auth: AdminAuth.forRedis(commands, config.redis.prefix, [TOKEN]), log });
    const app = createWebApp({ config, status, snapshot, adminTokens: [TOKEN], ready: () => status.store.ping(), probes, notifications, subscriptions: router, log });
    const delivery = startSubscriberDelivery({ config: () => config, status, store, shapes: new StatuspageMapper(config), connection: blocking, log });
    stops.push(() => delivery.close(), () => confirmations.close(), () => probes.close(), () => notifications.close(), () => snapshot.stop());
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(config.web.port, config.web.host, resolve));
  });

  after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    for (const stop of stops) await stop();
    await hook.stop();
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  it("summary.json's page.url is where the page is served", async () => {
    const summary = (await (await fetch(`${base}/api/v2/summary.json`)).json()) as { page: { url: string } };
    assert.equal(summary.page.url, base);
  });

  it("the feeds link to the served page", async () => {
    const rss = await (await fetch(`${base}/history.rss`)).text();
    assert.ok(rss.includes(`<link>${base}/history</link>`), rss);
    assert.ok(rss.includes(`href="${base}/history.rss"`), rss);
    const atom = await (await fetch(`${base}/history.atom`)).text();
    assert.ok(atom.includes(`href="${base}/history.atom"`), atom);
  });

  it("a subscriber's confirm_url and unsubscribe_url reach the served page", async () => {
    const res = await fetch(`${base}/subscriptions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "webhook", endpoint: hook.url("/statuspage") }),
    });
    assert.equal(res.status, 202, await res.text());
    const confirmUrl = await waitFor(
      "the confirmation request",
      () => (hook.requests[0]?.json as { subscription_confirmation?: { confirm_url: string } } | undefined)?.subscription_confirmation?.confirm_url,
      10_000,
      25,
    );
    assert.ok(confirmUrl.startsWith(`${base}/subscriptions/confirm?`), confirmUrl);
    // Opening the link as the subscriber would: it must reach this server, not another port.
    const confirmed = await fetch(confirmUrl, { headers: { accept: "application/json" } });
    assert.equal(confirmed.status, 200);
    const body = (await confirmed.json()) as { status: string; unsubscribe_url: string };
    assert.equal(body.status, "confirmed");
    assert.ok(body.unsubscribe_url.startsWith(`${base}/subscriptions/unsubscribe?token=`), body.unsubscribe_url);
  });
});
