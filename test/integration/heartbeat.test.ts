import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { TokenStore } from "../../src/auth/index.ts";
import type { Config } from "../../src/config/index.ts";
import { createLogger, type Logger } from "../../src/core/index.ts";
import { HeartbeatKeys, startHeartbeatChecker } from "../../src/heartbeat/index.ts";
import { bullPrefix, NotificationControl, ProbeControl, QUEUE, startEvaluator, startIncidentWorker, type EvaluateJob } from "../../src/pipeline/index.ts";
import type { ProbeResult } from "../../src/probe-runtime/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { createWebApp, SnapshotService } from "../../src/web/index.ts";
import { configFrom } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN = "heartbeat-test-admin-token-0123456789";

/**
 * Heartbeat checks end to end on one real redis-server: the web app on a
 * real HTTP port takes the pings, the real evaluator and incident worker
 * (BullMQ) judge the results, and the deadline checker runs as the worker
 * role runs it (every second).
 */
describe("heartbeat checks (real redis-server, HTTP, BullMQ)", () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let config: Config;
  let status: StatusContext;
  let server: Server;
  let base: string;
  let keys: HeartbeatKeys;
  let tokens: TokenStore;
  const lines: string[] = [];
  let log: Logger;
  const stops: (() => Promise<unknown>)[] = [];
  /** The secrets of every token made here: none may reach a log line. */
  const secrets: string[] = [ADMIN];
  let startedAt = 0;

  before(async () => {
    startedAt = Date.now();
    redis = await startRedis();
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    config = await configFrom(
      `
redis: { prefix: ${uniquePrefix("hb")} }
admin: { token: ${ADMIN} }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }, { id: far }]
components: [{ id: archive, name: Message archive }, { id: sweep, name: Presence }, { id: chat, name: Chat }]
probes:
  - { id: archiver, kind: heartbeat, components: [archive], with: { every: 1s, grace: 500ms } }
  - { id: sweeper, kind: heartbeat, components: [sweep], with: { every: 1m, grace: 1m } }
  - { id: burst, kind: heartbeat, with: { every: 1m } }
  - { id: twin, kind: heartbeat, with: { every: 1s, grace: 500ms } }
  - { id: idle, kind: heartbeat, with: { every: 1s, grace: 500ms } }
  - { id: chat-echo, kind: websocket, components: [chat] }
`,
      { REDIS_URL: redis.url },
    );
    log = createLogger({ level: "debug", destination: { write: (line: string) => void lines.push(line) } });
    status = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    keys = new HeartbeatKeys(config.redis.prefix);
    tokens = new TokenStore(commands, config.redis.prefix);

    const snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log });
    await snapshot.start();
    const probes = new ProbeControl({ config: () => config, connection: commands, store: status.store, log });
    const notifications = new NotificationControl({ config: () => config, connection: commands, store: status.store });
    const app = createWebApp({ config, status, snapshot, adminTokens: [ADMIN], ready: () => status.store.ping(), probes, notifications, log });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const evaluator = startEvaluator({ config, status, connection: blocking, log });
    const incidents = startIncidentWorker({ config, status, connection: blocking, log });
    // Paused before anyone watches it: its deadlines are never looked at.
    await status.store.setProbePaused("idle", true);
    const checker = startHeartbeatChecker({ config: () => config, redis: commands, log, paused: () => status.store.pausedProbes() });
    stops.push(
      () => checker.close(),
      () => new Promise((resolve) => server.close(resolve)),
      () => evaluator.close(),
      () => incidents.close(),
      () => probes.close(),
      () => snapshot.stop(),
    );
  });

  after(async () => {
    for (const stop of stops) await stop();
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  async function token(name: string, scopes: string[]): Promise<string> {
    const { token } = await tokens.create(name, scopes);
    secrets.push(token);
    return token;
  }

  /** Pings `probe` the way a job would; `query` is the rest of the URL's query. */
  async function ping(probe: string, options: { bearer?: string; query?: string; method?: string } = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(`${base}/api/heartbeat/${probe}${options.query ? `?${options.query}` : ""}`, {
      method: options.method ?? "POST",
      headers: options.bearer ? { authorization: `Bearer ${options.bearer}` } : {},
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
  }

  const results = (probe: string): Promise<ProbeResult[]> => status.store.recentResults(probe, "local", 100);
  const componentStatus = async (id: string) => (await status.store.componentsOf([id])).get(id)?.status ?? "operational";
  const missedLines = (probe: string) =>
    lines.map((l) => JSON.parse(l) as { msg: string; probe?: string; since?: string; missed?: number }).filter((l) => l.msg === "heartbeat check missed its deadline" && l.probe === probe);

  /** What a refused request must leave as it was: the probe's results, state, last ping and evaluate jobs. */
  async function footprint(probe: string) {
    const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    try {
      const jobs = await evaluate.getJobs(["wait", "active", "delayed", "completed", "failed", "prioritized"]);
      return {
        results: (await results(probe)).map((r) => r.id),
        state: Object.fromEntries(await status.store.probeStates(probe)),
        lastPing: await commands.get(keys.lastPing(probe)),
        jobs: jobs.filter((j) => j?.data.result.probe === probe).length,
      };
    } finally {
      await evaluate.close();
    }
  }

  it("a check that gets no ping within every + grace fails and opens an incident; pings bring it back and the incident resolves", async () => {
    const archiver = await token("archiver cron", ["heartbeat:archiver"]);
    const watchedSince = Number(await waitFor("the checker to watch archiver", () => commands.get(keys.firstSeen("archiver")), 3_000));

    // Never pinged: the deadline counts from when the checker first watched it.
    await waitFor("archive to fail for want of pings", async () => (await componentStatus("archive")) === "major_outage", 5_000);
    const [missed] = await results("archiver");
    assert.equal(missed!.status, "failed");
    assert.match(missed!.error!, /^no ping since the check started at \S+: it was never pinged \(expected every 1s, grace 500ms\)$/);
    assert.equal(missed!.details?.source, "deadline");
    const lateBy = Date.parse(missed!.finished_at) - watchedSince;
    assert.ok(lateBy >= 1_500 && lateBy < 3_500, `failed ${lateBy} ms after the check was first watched (every 1s + grace 500ms, checked each second)`);
    // The component's status is the evaluator's; the incident is the incident worker's, a job later.
    const opened = await waitFor("an incident to open", async () => (await status.store.recentIncidents(1)).find((i) => i.status !== "resolved"), 5_000, 20);
    assert.equal(opened.components.archive, "major_outage");

    // Still nothing: one more failed result each `every`, so the history shows the gap.
    const again = await waitFor("a second missed deadline", async () => {
      const deadlines = (await results("archiver")).filter((r) => r.details?.source === "deadline");
      return deadlines.length >= 2 ? deadlines : undefined;
    }, 4_000);
    assert.notEqual(again[0]!.id, again[1]!.id);
    assert.equal(Date.parse(String(again[0]!.details!.deadline)) - Date.parse(String(again[1]!.details!.deadline)), 1_000, "one result per missed deadline, `every` apart");

    // The job comes back and pings every 400 ms.
    const pinging = setInterval(() => void ping("archiver", { bearer: archiver }).catch(() => {}), 400);
    let lastPingAt = 0;
    try {
      const first = await ping("archiver", { bearer: archiver });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.status, "ok");
      await waitFor("archive operational again", async () => (await componentStatus("archive")) === "operational", 3_000);
      const resolved = await waitFor("the incident to resolve after the quiet period", async () => {
        const incident = (await status.store.recentIncidents(5)).find((i) => i.id === opened.id);
        return incident?.status === "resolved" ? incident : undefined;
      }, 6_000);
      assert.ok(resolved.resolved_at);
      const [latest] = await results("archiver");
      assert.equal(latest!.status, "ok");
      assert.equal(latest!.details?.source, "ping");
    } finally {
      clearInterval(pinging);
      lastPingAt = Number(await commands.get(keys.lastPing("archiver")));
    }

    // It stops again: the failure names the last ping.
    await waitFor("archive to fail again", async () => (await componentStatus("archive")) === "major_outage", 5_000);
    const [stopped] = await results("archiver");
    assert.equal(stopped!.error, `no ping since ${new Date(lastPingAt).toISOString()} (expected every 1s, grace 500ms)`);
    const silentFor = Date.parse(stopped!.finished_at) - lastPingAt;
    assert.ok(silentFor >= 1_500 && silentFor < 3_500, `failed ${silentFor} ms after the last ping`);
  });

  it("?status=fail&msg=… fails the check at once with the job's message, and an ok ping clears it", async () => {
    const sweeper = await token("sweeper job", ["heartbeat:sweeper"]);
    // The curl-in-cron form: a GET with the token in the query.
    const ok = await ping("sweeper", { method: "GET", query: `token=${encodeURIComponent(sweeper)}` });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.headers.get("cache-control"), "no-store");
    const nextBy = Date.parse(String(ok.body.next_ping_by)) - Date.parse(String(ok.body.received_at));
    assert.equal(nextBy, 120_000, "the answer says by when the next ping is due (every 1m + grace 1m)");
    await waitFor("the ok ping to be stored", async () => (await results("sweeper")).length === 1, 3_000);

    const sentAt = Date.now();
    const failed = await ping("sweeper", { bearer: sweeper, query: "status=fail&msg=archive+stuck" });
    assert.equal(failed.status, 200, JSON.stringify(failed.body));
    assert.equal(failed.body.status, "failed");
    await waitFor("sweep to fail on the failure ping", async () => (await componentStatus("sweep")) === "major_outage", 3_000);
    const tookMs = Date.now() - sentAt;
    assert.ok(tookMs < 2_000, `failed ${tookMs} ms after the ping (its deadline is 2 minutes away)`);
    const [result] = await results("sweeper");
    assert.equal(result!.status, "failed");
    assert.equal(result!.error, "archive stuck");
    assert.equal(result!.latency_ms, 0);
    assert.equal(result!.details?.source, "ping");
    assert.equal(result!.location, "local", "judged at the first location");

    assert.equal((await ping("sweeper", { bearer: sweeper, query: "status=ok" })).status, 200);
    await waitFor("sweep operational after an ok ping", async () => (await componentStatus("sweep")) === "operational", 3_000);
  });

  it("a wrong, missing or revoked token is 401 naming the problem, and changes nothing", async () => {
    const revokedToken = await token("old sweeper", ["heartbeat:sweeper"]);
    const [record] = (await tokens.list()).filter((t) => t.name === "old sweeper");
    await tokens.revoke(record!.id);
    const before = await footprint("sweeper");

    const missing = await ping("sweeper");
    assert.equal(missing.status, 401);
    assert.equal(missing.body.code, "unauthorized");
    assert.match(String(missing.body.message), /a token is required: send "Authorization: Bearer <token>" or \?token=<token>, with a token scoped heartbeat:sweeper/);
    for (const [what, attempt] of [
      ["a made-up token", ping("sweeper", { bearer: "pb_aaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" })],
      ["garbage", ping("sweeper", { query: "token=letmein&status=fail&msg=x" })],
      ["a revoked token", ping("sweeper", { bearer: revokedToken })],
    ] as const) {
      const res = await attempt;
      assert.equal(res.status, 401, what);
      assert.equal(res.body.message, "the token is not valid: unknown, revoked or mistyped", what);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="pulseboard-heartbeat"');
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await footprint("sweeper"), before, "no result, state, ping time or evaluate job came of it");
  });

  it("refuses (403) a token scoped to another probe's heartbeat, an agent or the admin API's reading; admin may ping", async () => {
    const other = await token("archiver only", ["heartbeat:archiver"]);
    const agent = await token("agent", ["agent:local"]);
    const reader = await token("dashboard", ["read"]);
    const admin = await token("ops", ["admin"]);
    const before = await footprint("sweeper");
    const refused = await ping("sweeper", { bearer: other, query: "status=fail&msg=nope" });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.message, 'the token "archiver only" may not ping sweeper: that needs the heartbeat:sweeper scope (it has heartbeat:archiver)');
    assert.equal((await ping("sweeper", { bearer: agent })).status, 403);
    assert.equal((await ping("sweeper", { bearer: reader })).status, 403);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await footprint("sweeper"), before, "a refused ping leaves nothing");

    assert.equal((await ping("sweeper", { bearer: admin })).status, 200);
    assert.equal((await ping("sweeper", { bearer: ADMIN })).status, 200, "the bootstrap admin token too");
  });

  it("names an unknown check or a probe that is not a heartbeat (404), a bad status (400) and a wrong method (405)", async () => {
    const unknown = await ping("nope", { bearer: ADMIN });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.message, 'no heartbeat check has the id "nope"');
    const notHeartbeat = await ping("chat-echo", { bearer: ADMIN });
    assert.equal(notHeartbeat.status, 404);
    assert.equal(notHeartbeat.body.message, 'probe "chat-echo" is a websocket probe, not a heartbeat check: only kind heartbeat takes pings');
    // A token for a check that is gone gets the same 404, not a pass.
    const gone = await token("removed job", ["heartbeat:removed"]);
    assert.equal((await ping("removed", { bearer: gone })).status, 404);

    const badStatus = await ping("sweeper", { bearer: ADMIN, query: "status=maybe" });
    assert.equal(badStatus.status, 400);
    assert.equal(badStatus.body.message, 'status: expected ok or fail, got "maybe"');
    const twice = await ping("sweeper", { bearer: ADMIN, query: "msg=a&msg=b" });
    assert.equal(twice.status, 400);
    assert.equal(twice.body.message, "msg: give it once, as text");
    const put = await ping("sweeper", { bearer: ADMIN, method: "PUT" });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get("allow"), "GET, POST");
  });

  it("rate-limits each check: 10 pings at once, then 429 until the bucket refills", async () => {
    const job = await token("burst job", ["heartbeat:burst"]);
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) answers.push((await ping("burst", { bearer: job })).status);
    assert.deepEqual(answers, [...Array(10).fill(200), 429, 429]);
    const limited = await ping("burst", { bearer: job });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "1");
    assert.match(String(limited.body.message), /^too many pings of burst: at most 1 a second \(10 at once\)$/);
    await waitFor("the 10 accepted pings stored", async () => (await results("burst")).length === 10, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await results("burst")).length, 10, "the refused pings stored nothing");
  });

  it("reports each missed deadline once however many workers watch", async () => {
    const watch = () => startHeartbeatChecker({ config: () => config, redis: commands, log, paused: () => status.store.pausedProbes() });
    const extra = [watch(), watch()];
    const from = missedLines("twin").length;
    try {
      await new Promise((resolve) => setTimeout(resolve, 3_500));
    } finally {
      await Promise.all(extra.map((c) => c.close()));
    }
    const seen = missedLines("twin");
    assert.ok(seen.length - from >= 3, `three checkers over 3.5 s report the deadlines they find (${seen.length - from})`);
    const perDeadline = new Map<string, number>();
    for (const line of seen) perDeadline.set(`${line.since}#${line.missed}`, (perDeadline.get(`${line.since}#${line.missed}`) ?? 0) + 1);
    assert.deepEqual([...perDeadline.values()].filter((n) => n > 1), [], "no deadline reported twice");
    await waitFor("every reported miss stored", async () => (await results("twin")).length === perDeadline.size, 3_000);
  });

  it("does not watch a paused check", async () => {
    // Paused since the suite started, many times every + grace ago.
    assert.ok(Date.now() - startedAt > 5_000);
    assert.deepEqual(await results("idle"), []);
    assert.equal(await commands.get(keys.firstSeen("idle")), null);
    assert.deepEqual(missedLines("idle"), []);
  });

  it("never writes a token to a log line", () => {
    assert.ok(lines.length > 20, "the suite logged (debug level)");
    for (const secret of secrets) {
      const leaked = lines.filter((l) => l.includes(secret) || l.includes(secret.split(".")[1] ?? secret));
      assert.deepEqual(leaked, [], "a token's secret is in a log line");
    }
  });
});
