import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import express from "express";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { openIncident, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { liveRouter } from "../../src/web/live.ts";
import { PageRenderer, SnapshotService } from "../../src/web/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const MIN = 60_000;

/** Reads an SSE stream, keeping the components fragment of every update frame. */
async function liveFrames(url: string, signal: AbortSignal): Promise<string[]> {
  const frames: string[] = [];
  const res = await fetch(url, { signal });
  assert.equal(res.status, 200);
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const data = /^data: (.*)$/m.exec(buffer.slice(0, end));
          if (data) frames.push(JSON.parse(data[1]!).fragments.components as string);
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  return frames;
}

/** The uptime figure the components fragment prints next to Chat. */
function chatFigure(components: string): { status: string; uptime: string } | undefined {
  const chat = /id="component-chat">Chat<.*$/s.exec(components)?.[0];
  if (!chat) return undefined;
  const status = /<span class="status-dot" aria-hidden="true"><\/span>([^<]+)</.exec(chat)?.[1] ?? "";
  const uptime = /class="uptime-scale"><span>[^<]*<\/span><span[^>]*>([^<]+)</.exec(chat)?.[1] ?? "";
  return { status, uptime };
}

describe("uptime on the live page follows status changes (real redis-server, real SSE)", () => {
  let redis: TestRedis;
  let config: Config;
  let ctx: StatusContext;
  let subscriber: Redis;
  let snapshot: SnapshotService;
  let server: ReturnType<ReturnType<typeof express>["listen"]>;
  let base: string;
  const stop = new AbortController();

  before(async () => {
    redis = await startRedis();
    config = await configFrom(`
page: { name: "Lumen Live" }
locations: [{ id: local }]
components:
  - { id: chat, name: Chat }
probes: []
`, { REDIS_URL: redis.url });
    ctx = { store: new StatusStore(redis.client, uniquePrefix()), components: config.components };
    subscriber = new Redis(redis.url);
    // Five minutes of fully-up history: the component was first seen then.
    await ctx.store.setEffective("chat", "operational", Date.now() - 5 * MIN);
    snapshot = SnapshotService.forStore(ctx, () => config, {
      refreshMs: 500,
      historyMs: 1_000,
      subscribe: async (onChange) => {
        subscriber.on("message", onChange);
        await subscriber.subscribe(ctx.store.keys.events);
        return async () => void subscriber.off("message", onChange);
      },
      log: testLog(),
    });
    await snapshot.start();
    const app = express().use(liveRouter({ snapshot, pages: new PageRenderer(config), log: testLog() }));
    server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    stop.abort();
    await snapshot.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    subscriber.disconnect();
    await redis.stop();
  });

  it("a few minutes fully up read 100 %; after a major outage opens, the pushed page never pairs it with 100 %, and the figure falls as the outage goes on", async () => {
    const frames = await liveFrames(`${base}/live?v=0`, stop.signal);
    const first = await waitFor("the first live frame", () => frames[0]);
    assert.equal(chatFigure(first)?.status, "Operational");
    assert.match(chatFigure(first)!.uptime, /^100% uptime since /, "over the five minutes with data, not 90 days");

    await openIncident(ctx, { name: "Chat down", body: "Messages are not delivered.", components: { chat: "major_outage" }, author: { kind: "person", name: "ops" } });
    const down = await waitFor("a frame with Chat in major outage and its uptime below 100 %", () =>
      frames.map(chatFigure).find((f) => f?.status === "Major outage" && !f.uptime.startsWith("100%")), 10_000);
    const figure = (text: string) => Number(/^([\d.]+)%/.exec(text)?.[1]);
    assert.ok(figure(down.uptime) < 100, down.uptime);
    // The last frame a customer is left with while the outage lasts is never "Major outage" next to "100%".
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const latest = chatFigure(frames.at(-1)!)!;
    assert.equal(latest.status, "Major outage");
    assert.doesNotMatch(latest.uptime, /^100%/);

    // About 3 s of outage over ~5 minutes: the figure pushed later is lower than the first one (the open outage accrues).
    const later = await waitFor("a later frame whose uptime fell further", () =>
      frames.map(chatFigure).find((f) => f?.status === "Major outage" && figure(f.uptime) < figure(down.uptime) - 0.3), 15_000);
    assert.ok(figure(later.uptime) < 99.7, later.uptime);
  });
});
