import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import express from "express";
import request from "supertest";
import { TokenStore } from "../../src/auth/index.ts";
import type { Config } from "../../src/config/index.ts";
import { AdminAuth, agentApiRouter, createWebApp, SnapshotService, type WebApp } from "../../src/web/index.ts";
import { bullPrefix, NotificationControl, ProbeControl, QUEUE, type EvaluateJob, startEvaluator, startIncidentWorker, startLocationSilenceCheck, startNotifyWorker } from "../../src/pipeline/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import type { ProbeResult } from "../../src/probe-runtime/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN = "agent-api-admin-token-0123456789abcdef";

/**
 * The remote agents' API on the web app (real redis-server, real HTTP through
 * supertest), with the evaluator, the incident worker, the silence check and
 * the notify worker running as the worker role runs them: what a remote
 * location's pushes do to history, status, quorum and on-call.
 */
describe("the remote agents' API (/api/agent/v1)", () => {
  let redis: TestRedis;
  let connection: Redis;
  let blocking: Redis;
  let config: Config;
  let status: StatusContext;
  let app: WebApp;
  let hook: HttpReceiver;
  let agentToken: string;
  let otherToken: string;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    redis = await startRedis();
    hook = await HttpReceiver.start();
    const prefix = `pb${randomBytes(4).toString("hex")}`;
    config = await configFrom(
      `
page: { name: Agents, url: "http://127.0.0.1:1" }
redis: { prefix: ${prefix} }
evaluation: { quiet_period: 1s }
locations:
  - { id: local }
  - { id: eu-west, name: Frankfurt, remote: true, silent_after: 3 }
  - { id: us-east, remote: true }
components: [{ id: chat, name: Chat }]
probes:
  - { id: chat-http, kind: http, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, locations: [local, eu-west], components: [chat], with: { url: "http://127.0.0.1:9/health", headers: { x-probe: "\${PROBE_HEADER}" } } }
  - { id: local-only, kind: http, interval: 1s, timeout: 800ms, locations: [local], components: [chat], with: { url: "http://127.0.0.1:9/other" } }
notifications:
  channels: [{ id: oncall, kind: webhook, url: "${hook.url("/hook")}" }]
`,
      { REDIS_URL: redis.url, PROBE_HEADER: "from-env" },
    );
    connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    status = { store: new StatusStore(connection, config.redis.prefix), components: config.components };
    const log = testLog();
    const snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log });
    await snapshot.start();
    const auth = AdminAuth.forRedis(connection, config.redis.prefix, [ADMIN], log);
    const tokens = new TokenStore(connection, config.redis.prefix, [ADMIN]);
    agentToken = (await tokens.create("fra-1", ["agent:eu-west"])).token;
    otherToken = (await tokens.create("nyc-1", ["agent:us-east"])).token;
    const agents = agentApiRouter({ config: () => config, auth, connection, log });
    const probes = new ProbeControl({ config: () => config, connection, store: status.store, log });
    const notifications = new NotificationControl({ config: () => config, connection, store: status.store });
    app = createWebApp({ config, status, snapshot, adminTokens: [ADMIN], auth, ready: () => status.store.ping(), probes, notifications, agents, log });
    const evaluator = startEvaluator({ config, status, connection: blocking, log });
    const incidents = startIncidentWorker({ config, status, connection: blocking, log });
    const silence = startLocationSilenceCheck({ config: () => config, connection, log });
    const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
    stops.push(
      () => agents.close(),
      () => silence.close(),
      () => notify.close(),
      () => incidents.close(),
      () => evaluator.close(),
      () => probes.close(),
      () => notifications.close(),
      () => snapshot.stop(),
    );
  });

  after(async () => {
    for (const stop of stops) await stop();
    blocking?.disconnect();
    connection?.disconnect();
    await hook?.stop();
    await redis?.stop();
  });

  let serial = 0;
  const result = (overrides: Partial<ProbeResult> & { ageMs?: number } = {}): ProbeResult => {
    const { ageMs = 0, ...rest } = overrides;
    const finished = Date.now() - ageMs;
    serial++;
    return {
      id: `eu-west.chat-http.${finished}.${serial}`,
      probe: "chat-http",
      kind: "http",
      location: "eu-west",
      status: "ok",
      latency_ms: 12,
      phases: { connect: 4, response: 8 },
      started_at: new Date(finished - 12).toISOString(),
      finished_at: new Date(finished).toISOString(),
      ...rest,
    };
  };
  const push = (results: unknown[], options: { token?: string; location?: string; sentAt?: number; dropped?: number } = {}) =>
    request(app)
      .post("/api/agent/v1/results")
      .set("authorization", `Bearer ${options.token ?? agentToken}`)
      .send({ location: options.location ?? "eu-west", agent: { name: "fra-1 box", version: "0.1.0" }, sent_at: new Date(options.sentAt ?? Date.now()).toISOString(), dropped: options.dropped ?? 0, results });
  const history = async (): Promise<ProbeResult[]> => (await connection.lrange(status.store.keys.results("chat-http", "eu-west"), 0, -1)).map((raw) => JSON.parse(raw) as ProbeResult);
  const locations = async () => (await request(app).get("/admin/api/locations").set("authorization", `Bearer ${ADMIN}`).expect(200)).body.locations as { id: string; state: string; last_push_at: string | null; clock_skew_ms: number | null; results_total: number; dropped_total: number; agents: { name: string; label?: string }[] }[];

  it("gives an agent token nothing but its own location: the admin API refuses it, another location's config is 403", async () => {
    const admin = await request(app).get("/admin/api/components").set("authorization", `Bearer ${agentToken}`);
    assert.equal(admin.status, 403);
    assert.match(admin.body.message, /lacks the "read" scope/);
    const other = await request(app).get("/api/agent/v1/config?location=us-east").set("authorization", `Bearer ${agentToken}`);
    assert.equal(other.status, 403);
    assert.match(other.body.message, /may not act for location us-east .*agent:us-east/);
    assert.equal((await request(app).get("/api/agent/v1/config?location=eu-west")).status, 401);
    assert.equal((await request(app).get("/api/agent/v1/config?location=eu-west").set("authorization", "Bearer pb_000000000000.nope")).status, 401);
    const local = await request(app).get("/api/agent/v1/config?location=local").set("authorization", `Bearer ${ADMIN}`);
    assert.equal(local.status, 409);
    assert.match(local.body.message, /location local is not remote/);
    const unknown = await request(app).get("/api/agent/v1/config?location=eu-wset").set("authorization", `Bearer ${agentToken}`);
    assert.equal(unknown.status, 404);
    await assert.rejects(new TokenStore(connection, config.redis.prefix).create("mixed", ["agent:eu-west", "read"]), /cannot be combined with admin API scopes/);
    await assert.rejects(new TokenStore(connection, config.redis.prefix).create("bad", ["agent:EU WEST"]), /"agent:EU WEST" is not a scope; there are read, .*agent:<location>/);
  });

  it("serves the location's probes with their settings as written, and a 304 while they are unchanged", async () => {
    const first = await request(app).get("/api/agent/v1/config?location=eu-west").set("authorization", `Bearer ${agentToken}`).expect(200);
    assert.deepEqual(
      first.body.probes.map((p: { id: string }) => p.id),
      ["chat-http"],
      "only the probes that run from eu-west",
    );
    const [probe] = first.body.probes;
    assert.deepEqual(probe.with, { url: "http://127.0.0.1:9/health", headers: { "x-probe": "from-env" } });
    assert.equal(probe.interval_ms, 1_000);
    assert.equal(probe.timeout_ms, 800);
    assert.deepEqual(Object.keys(first.body.targets).sort(), ["gatewayNodeUrls", "gatewayUrl"], "no admin token, no cache URL");
    const etag = first.get("etag")!;
    assert.match(etag, /^"[\w-]+"$/);
    await request(app).get("/api/agent/v1/config?location=eu-west").set("authorization", `Bearer ${agentToken}`).set("if-none-match", etag).expect(304);
    await connection.sadd(status.store.keys.pausedProbes, "chat-http");
    try {
      const paused = await request(app).get("/api/agent/v1/config?location=eu-west").set("authorization", `Bearer ${agentToken}`).set("if-none-match", etag).expect(200);
      assert.deepEqual(paused.body.probes, [], "a paused probe is not run remotely either");
      assert.notEqual(paused.get("etag"), etag);
    } finally {
      await connection.srem(status.store.keys.pausedProbes, "chat-http");
    }
  });

  it("stores a batch once however often it is retried, with the server's receive time", async () => {
    const batch = [result(), result(), result()];
    const first = await push(batch).expect(200);
    assert.deepEqual(first.body, { accepted: 3, duplicates: 0, late: 0 });
    const again = await push(batch).expect(200);
    assert.deepEqual(again.body, { accepted: 0, duplicates: 3, late: 0 });
    await waitFor("the three results in history", async () => (await history()).length >= 3, 10_000);
    const stored = (await history()).filter((r) => batch.some((b) => b.id === r.id));
    assert.equal(stored.length, 3, "each id once");
    assert.ok(stored.every((r) => typeof r.received_at === "string" && Math.abs(Date.parse(r.received_at) - Date.now()) < 60_000));
    const [eu] = (await locations()).filter((l) => l.id === "eu-west");
    assert.equal(eu!.results_total, 3);
    assert.deepEqual(eu!.agents.map((a) => [a.name, a.label]), [["fra-1", "fra-1 box"]]);
  });

  it("refuses a bad batch whole and names each bad result; another location's result is 403", async () => {
    const before = (await history()).length;
    const bad = await push([result(), { ...result(), probe: "chatt-http" }, { ...result(), status: "fine" }]).expect(400);
    assert.equal(bad.body.code, "bad_results");
    assert.deepEqual(
      bad.body.rejected.map((r: { index: number }) => r.index),
      [1, 2],
    );
    assert.match(bad.body.rejected[0].message, /results\[1\]\.probe: no probe "chatt-http" runs from eu-west/);
    assert.match(bad.body.rejected[1].message, /results\[2\]\.status/);
    const localOnly = await push([result({ probe: "local-only" })]).expect(400);
    assert.match(localOnly.body.message, /no probe "local-only" runs from eu-west/);
    const foreign = await push([result({ location: "us-east" })]).expect(403);
    assert.match(foreign.body.message, /"us-east" is not this push's location eu-west/);
    assert.equal((await push([result()], { location: "us-east" })).status, 403, "an eu-west token cannot push for us-east");
    const envelope = await request(app).post("/api/agent/v1/results").set("authorization", `Bearer ${agentToken}`).send({ location: "eu-west", results: [] });
    assert.equal(envelope.status, 400);
    assert.match(envelope.body.message, /sent_at/);
    const tooMany = await push(Array.from({ length: 501 }, () => result()));
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.message, /at most 500 results/);
    const huge = await push([result({ error: "x".repeat(1_200_000) })]);
    assert.equal(huge.status, 413);
    assert.equal(huge.body.code, "too_large");
    const garbled = await request(app).post("/api/agent/v1/results").set("authorization", `Bearer ${agentToken}`).set("content-type", "application/json").send("{not json");
    assert.equal(garbled.status, 400);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await history()).length, before, "nothing of the refused batches was stored");
  });

  it("keeps a late result for history only, and takes the agent's clock skew out before judging lateness", async () => {
    const late = result({ status: "failed", error: "connect: refused", ageMs: 5_000 });
    const answer = await push([late]).expect(200);
    assert.equal(answer.body.late, 1);
    await waitFor("the late result in history", async () => (await history()).some((r) => r.id === late.id), 10_000);
    const state = (await status.store.probeStates("chat-http")).get("eu-west");
    assert.notEqual(state?.last_result_id, late.id, "a late result does not move the location's state");
    const last = JSON.parse((await connection.get(status.store.keys.lastResult("chat-http", "eu-west"))) ?? "{}") as ProbeResult;
    assert.notEqual(last.id, late.id, "nor becomes the latest result");
    // An agent whose clock runs 10 minutes ahead: its fresh result is not late.
    const ahead = 10 * 60_000;
    const skewed = result({ ageMs: -ahead });
    const fresh = await push([skewed], { sentAt: Date.now() + ahead }).expect(200);
    assert.equal(fresh.body.late, 0);
    const [eu] = (await locations()).filter((l) => l.id === "eu-west");
    assert.ok(eu!.clock_skew_ms! > ahead - 30_000 && eu!.clock_skew_ms! < ahead + 30_000, `skew reported: ${eu!.clock_skew_ms} ms`);
    // And one 10 minutes behind: its fresh result looks 10 minutes old by the server's clock, and is not late either.
    const behind = result({ ageMs: ahead });
    assert.equal((await push([behind], { sentAt: Date.now() - ahead }).expect(200)).body.late, 0);
    const [slow] = (await locations()).filter((l) => l.id === "eu-west");
    assert.ok(slow!.clock_skew_ms! < -ahead + 30_000 && slow!.clock_skew_ms! > -ahead - 30_000, `skew reported: ${slow!.clock_skew_ms} ms`);
    // Without the skew taken out it would be: the same result sent with an honest clock is late.
    assert.equal((await push([result({ ageMs: ahead })]).expect(200)).body.late, 1);
  });

  it("a silent location is left out of quorum, on-call hears it stop and come back, the component stays operational", async () => {
    await waitFor("eu-west reporting", async () => (await locations()).find((l) => l.id === "eu-west")?.state === "reporting", 10_000, 100);
    // eu-west fails, local (never ran here, counts as up) does not: majority of two needs both.
    await push([result({ status: "failed", error: "connect: refused" })]).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await status.store.componentsOf(["chat"])).get("chat")?.status ?? "operational", "operational");
    const silentAt = Date.now();
    const silent = await waitFor("eu-west silent", async () => (await locations()).find((l) => l.id === "eu-west" && l.state === "silent"), 15_000, 100);
    const toSilent = Date.now() - silentAt;
    assert.ok(silent.last_push_at);
    const post = await waitFor("the silence post", () => hook.requests.find((r) => r.raw.includes("stopped reporting")), 10_000);
    assert.match(post.raw, /Location eu-west \(Frankfurt\) stopped reporting at \d{4}-\d\d-\d\dT/);
    assert.equal((await status.store.componentsOf(["chat"])).get("chat")?.status ?? "operational", "operational", "silence is not an outage");
    // With eu-west left out, local alone decides: its failure is the component's (majority of two would need both).
    const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection, prefix: bullPrefix(config.redis.prefix) });
    try {
      const local = (s: ProbeResult["status"]) => ({ result: result({ location: "local", id: `local.chat-http.${Date.now()}.${serial}`, status: s, ...(s === "failed" ? { error: "connect: refused" } : {}) }) });
      const failing = local("failed");
      await evaluate.add("result", failing, { jobId: failing.result.id });
      await waitFor("Chat down on local's word alone", async () => (await status.store.componentsOf(["chat"])).get("chat")?.status === "major_outage", 10_000, 100);
      const fine = local("ok");
      await evaluate.add("result", fine, { jobId: fine.result.id });
      await waitFor("Chat operational on local's word", async () => (await status.store.componentsOf(["chat"])).get("chat")?.status === "operational", 10_000, 100);
    } finally {
      await evaluate.close();
    }
    await push([result()]).expect(200);
    await waitFor("eu-west reporting again", async () => (await locations()).find((l) => l.id === "eu-west")?.state === "reporting", 10_000, 100);
    const back = await waitFor("the back post", () => hook.requests.find((r) => r.raw.includes("is reporting again")), 10_000);
    assert.match(back.raw, /Location eu-west \(Frankfurt\) is reporting again/);
    assert.equal(hook.requests.filter((r) => r.raw.includes("stopped reporting")).length, 1, "one post for the silence");
    assert.equal(hook.requests.filter((r) => r.raw.includes("is reporting again")).length, 1, "one post for the return");
    const us = (await locations()).find((l) => l.id === "us-east");
    assert.equal(us?.state, "never seen");
    console.log(`# silent after ${toSilent} ms without a push (silent_after 3 × 1 s)`);
  });

  it("an agent with nothing to run (its probes paused) is not silent for pushing nothing", async () => {
    await push([result()]).expect(200);
    await waitFor("eu-west reporting", async () => (await locations()).find((l) => l.id === "eu-west")?.state === "reporting", 10_000, 100);
    const posts = hook.requests.length;
    await connection.sadd(status.store.keys.pausedProbes, "chat-http");
    try {
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      assert.equal((await locations()).find((l) => l.id === "eu-west")?.state, "reporting");
      assert.equal(hook.requests.slice(posts).filter((r) => r.raw.includes("stopped reporting")).length, 0);
    } finally {
      await connection.srem(status.store.keys.pausedProbes, "chat-http");
    }
  });

  it("wrong agent tokens count against the address with the admin API's: guessing is refused (429) for everyone from it", async () => {
    // Its own limit (3 a minute) and app, so the shared one above is not locked.
    const limited = AdminAuth.forRedis(connection, config.redis.prefix, [ADMIN], testLog(), { failedLogins: { max: 3, perMs: 60_000 } });
    const agents = agentApiRouter({ config: () => config, auth: limited, connection, log: testLog() });
    const guarded = express().use("/api/agent/v1", agents).get("/admin/api/ping", limited.guard(), (_req, res) => void res.json({ ok: true }));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(guarded).get("/api/agent/v1/config?location=eu-west").set("authorization", `Bearer pb_000000000000.guess${i}`)).status, 401);
      const refused = await request(guarded).get("/api/agent/v1/config?location=eu-west").set("authorization", `Bearer ${agentToken}`);
      assert.equal(refused.status, 429, "even a good token from that address waits");
      assert.ok(Number(refused.headers["retry-after"]) > 0 && Number(refused.headers["retry-after"]) <= 60, `Retry-After: ${refused.headers["retry-after"]}`);
      assert.match(refused.body.message, /too many requests with a wrong token from this address; retry in \d+ s/);
      assert.equal((await request(guarded).get("/admin/api/ping").set("authorization", `Bearer ${ADMIN}`)).status, 429, "the admin API shares the limit");
    } finally {
      await agents.close();
    }
  });
});
