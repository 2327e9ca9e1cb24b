import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ComponentConfig } from "../../src/config/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { openIncident, refreshEffective, resolveIncident, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";

const DAY = 86_400_000;
const MIN = 60_000;
const components: ComponentConfig[] = [{ id: "chat", name: "Chat", only_show_if_degraded: false, showcase: true }];

function result(at: number, latency: number, status: ProbeStatus = "ok", location = "eu"): ProbeResult {
  const iso = new Date(at).toISOString();
  return { id: `r${at}-${Math.random()}`, probe: "p", kind: "websocket", location, status, latency_ms: latency, phases: {}, started_at: iso, finished_at: iso };
}

async function commandsDuring(redis: TestRedis, work: () => Promise<unknown>): Promise<number> {
  const count = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.client.info("stats"))![1]);
  const before = await count();
  await work();
  return (await count()) - before - 1;
}

describe("result history: rollups, uptime and retention (real redis-server)", () => {
  let redis: TestRedis;
  before(async () => (redis = await startRedis()));
  after(async () => redis.stop());
  const context = (): StatusContext => ({ store: new StatusStore(redis.client, uniquePrefix()), components });

  it("rolls results up per minute into a 24-hour latency chart with percentiles from a histogram", async () => {
    const ctx = context();
    const now = Date.UTC(2026, 10, 23, 12, 7, 30);
    const minuteAgo = now - 30 * MIN;
    for (let i = 1; i <= 100; i++) await ctx.store.recordResult(result(minuteAgo, i * 10));
    await ctx.store.recordResult(result(minuteAgo, 5_000, "failed"));
    await ctx.store.recordResult(result(minuteAgo, 900, "degraded"));
    await ctx.store.recordResult(result(now - 2 * DAY, 5));
    const points = await ctx.store.latency("p", ["eu"], "24h", now);
    assert.equal(points.length, 96, "15-minute points over 24 hours");
    const busy = points.filter((p) => p.count > 0);
    assert.equal(busy.length, 1, "the 2-day-old result is outside the window");
    const [point] = busy;
    assert.equal(point!.count, 102);
    assert.equal(point!.failures, 1);
    assert.equal(point!.degraded, 1);
    // 101 answered runs from 10 ms to 1000 ms (+ one at 900): the histogram's estimates sit near the true values.
    assert.ok(Math.abs(point!.p50! - 505) < 60, `p50 ${point!.p50}`);
    assert.ok(Math.abs(point!.p95! - 950) < 110, `p95 ${point!.p95}`);
    assert.ok(point!.p99! >= 900 && point!.p99! <= 1_000, `p99 ${point!.p99}`);
  });

  it("keeps locations apart and sums them on request; 7 days come from hourly rollups", async () => {
    const ctx = context();
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    for (const [location, latency] of [["eu", 20], ["us", 200]] as const) {
      for (let day = 0; day < 7; day++) await ctx.store.recordResult(result(now - day * DAY - MIN, latency, "ok", location));
    }
    const eu = await ctx.store.latency("p", ["eu"], "7d", now);
    const both = await ctx.store.latency("p", ["eu", "us"], "7d", now);
    assert.equal(eu.length, 168);
    assert.equal(eu.reduce((n, p) => n + p.count, 0), 7);
    assert.equal(both.reduce((n, p) => n + p.count, 0), 14);
    assert.ok(eu.every((p) => p.p99 === null || p.p99 <= 20));
    assert.ok(both.some((p) => p.p99 !== null && p.p99 > 100));
  });

  it("reads a chart in a few commands however many results are stored (no scan of raw results)", async () => {
    const ctx = context();
    const now = Date.now();
    for (let i = 0; i < 2_000; i++) await ctx.store.recordResult(result(now - (i % 1_440) * MIN, 10 + (i % 50)));
    const latencyCommands = await commandsDuring(redis, () => ctx.store.latency("p", ["eu"], "24h", now));
    assert.ok(latencyCommands <= 2, `24h chart: ${latencyCommands} commands`);
    const uptimeCommands = await commandsDuring(redis, () => ctx.store.uptime(["chat"], 90, now));
    assert.ok(uptimeCommands <= 6, `90-day uptime: ${uptimeCommands} commands`);
  });

  it("records time in each status per UTC day, split at midnight, and rates uptime", async () => {
    const ctx = context();
    const day0 = Date.UTC(2026, 10, 20);
    await ctx.store.setEffective("chat", "operational", day0);
    await ctx.store.setEffective("chat", "major_outage", day0 + 23 * 3_600_000);
    await ctx.store.setEffective("chat", "partial_outage", day0 + DAY + 3_600_000);
    await ctx.store.setEffective("chat", "operational", day0 + DAY + 2 * 3_600_000);
    const now = day0 + 3 * DAY - 1;
    const days = (await ctx.store.uptime(["chat"], 4, now)).get("chat")!;
    assert.deepEqual(days.map((d) => d.date), ["2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"]);
    assert.equal(days[0]!.worst, null, "no data before it was first seen");
    assert.deepEqual(days[1]!.ms, { operational: 23 * 3_600_000, major_outage: 3_600_000 });
    assert.equal(days[1]!.worst, "major_outage");
    assert.equal(days[1]!.uptime, Math.round((1 - 1 / 24) * 100_000) / 100_000);
    assert.deepEqual(days[2]!.ms, { major_outage: 3_600_000, partial_outage: 3_600_000, operational: 22 * 3_600_000 });
    assert.equal(days[2]!.uptime, Math.round((1 - 1.3 / 24) * 100_000) / 100_000, "a partial outage counts 30 %");
    assert.deepEqual(days[3]!.ms, { operational: DAY - 1 }, "the open interval is counted up to now");
    assert.equal(days[3]!.uptime, 1);
  });

  it("counts an incident's component status as what customers saw", async () => {
    const ctx = context();
    let clock = Date.UTC(2026, 10, 21, 10);
    ctx.now = () => new Date(clock);
    await refreshEffective(ctx);
    const { incident } = await openIncident(ctx, { name: "Chat down", body: "Down.", components: { chat: "major_outage" }, author: { kind: "person", name: "ops" } });
    clock += 2 * 3_600_000;
    await resolveIncident(ctx, { id: incident.id, author: { kind: "person", name: "ops" } });
    const [day] = (await ctx.store.uptime(["chat"], 1, Date.UTC(2026, 10, 21, 14))).get("chat")!;
    assert.equal(day!.ms.major_outage, 2 * 3_600_000);
    assert.equal(day!.ms.operational, 2 * 3_600_000);
  });

  it("the retention job deletes rollups and uptime past their time, and nothing else", async () => {
    const ctx = context();
    const old = Date.UTC(2026, 0, 1, 12);
    await ctx.store.recordResult(result(old, 10));
    await ctx.store.setEffective("chat", "operational", old);
    await ctx.store.setEffective("chat", "major_outage", old + 3_600_000);
    const recent = Date.UTC(2026, 10, 23, 11);
    await ctx.store.recordResult(result(recent, 10));
    const keysBefore = await redis.client.keys(`${ctx.store.keys.prefix}:*`);
    const deleted = await ctx.store.sweepRetention(Date.UTC(2026, 10, 23, 12));
    const keysAfter = await redis.client.keys(`${ctx.store.keys.prefix}:*`);
    assert.equal(deleted, 3, "the old minute and hour rollups and the old uptime block");
    assert.equal(keysBefore.length - keysAfter.length, 3);
    assert.equal((await ctx.store.latency("p", ["eu"], "24h", recent)).reduce((n, p) => n + p.count, 0), 1);
    assert.equal((await ctx.store.recentResults("p", "eu")).length, 2, "raw results are bounded by count, not swept");
  });
});
