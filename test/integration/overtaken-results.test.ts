import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { newId } from "../../src/core/index.ts";
import { bullPrefix, QUEUE, startEvaluator, type EvaluateJob } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { testLog } from "../helpers/config.ts";
import { uniquePrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";

/**
 * A scheduled run caught in a repair (it started while the node was being
 * restarted and timed out after the playbook's verify had passed) arrives
 * after a result that started later: what it saw is older than what is
 * known. Seen in the chaos-held e2e: such a result reopened the incident and
 * fired the playbook's trigger a second time. Real redis-server and BullMQ.
 */
describe("a result overtaken by one that started later is history, not news (real redis-server, BullMQ)", { timeout: 60_000 }, () => {
  let rig: WebRig;
  let blocking: Redis;
  let results: Queue<EvaluateJob>;
  const stops: (() => Promise<void>)[] = [];
  const t0 = Date.now() - 60_000;

  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const send = async (outcome: ProbeStatus, startedMs: number, finishedMs: number): Promise<ProbeResult> => {
    const r: ProbeResult = { id: newId(16), probe: "gateway-safeguard", kind: "safeguard", location: "local", status: outcome, latency_ms: finishedMs - startedMs, phases: {}, started_at: at(startedMs), finished_at: at(finishedMs), error: outcome === "failed" ? "timed out after 900 ms during stats" : undefined };
    await results.add("result", { result: r }, { jobId: r.id });
    return r;
  };
  const state = async () => (await rig.status.store.probeStates("gateway-safeguard")).get("local");
  const component = async () => (await rig.status.store.componentsOf(["realtime-gateway"])).get("realtime-gateway")?.status ?? "operational";
  const evaluated = (id: string) => waitFor(`result ${id} evaluated`, async () => (await rig.status.store.recentResults("gateway-safeguard", "local", 10)).some((r) => r.id === id), 10_000, 25);

  before(async () => {
    rig = await startWebRig(`
redis: { prefix: ${uniquePrefix("overtaken")} }
page: { name: Overtaken, url: "https://status.overtaken.example" }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
probes:
  - { id: gateway-safeguard, kind: websocket, interval: 1s, timeout: 900ms, fail_after: 1, recover_after: 1, components: [realtime-gateway] }
`, { tokens: [] });
    const { config, status, connection, redis } = rig;
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    results = new Queue<EvaluateJob>(QUEUE.evaluate, { connection, prefix: bullPrefix(config.redis.prefix) });
    const evaluator = startEvaluator({ config, status, connection: blocking, log: testLog() });
    stops.push(() => evaluator.close(), () => results.close());
  });

  after(async () => {
    for (const stop of stops) await stop();
    blocking?.disconnect();
    await rig?.stop();
  });

  it("keeps the state the later-started result set, records the overtaken one in the history, and still takes news after it", async () => {
    await evaluated((await send("failed", 0, 10)).id);
    assert.equal((await state())?.state, "down", "locked: down");
    await waitFor("the component down", async () => (await component()) !== "operational", 10_000, 25);

    // The verify's run (started at 1.2 s, done at 1.22 s) passes; a scheduled run that started at 1.0 s, during the restart, times out at 1.9 s.
    await evaluated((await send("ok", 1_200, 1_220)).id);
    assert.equal((await state())?.state, "up");
    await waitFor("the component operational", async () => (await component()) === "operational", 10_000, 25);
    const overtaken = await send("failed", 1_000, 1_900);
    await evaluated(overtaken.id);
    assert.equal((await state())?.state, "up", "the overtaken failure does not take the probe down");
    assert.equal(await component(), "operational", "nor the component");
    assert.equal((await rig.status.store.lastResults("gateway-safeguard", ["local"])).get("local")?.status, "ok", "the latest result shown is still the later-started one");

    // A failure that started after it is news.
    await evaluated((await send("failed", 2_000, 2_010)).id);
    assert.equal((await state())?.state, "down");
  });
});
